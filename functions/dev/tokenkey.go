package main

import (
	"fmt"
	"io"
	"time"

	"github.com/personalcrm/core/shared/sealbox"
)

// tokenKeyCommand prints a new random TOKEN_KEYS entry, id:base64key. To
// rotate, put it first in TOKEN_KEYS and keep the old entries after it.
func tokenKeyCommand(args []string, out io.Writer) error {
	id := "k" + time.Now().UTC().Format("20060102")
	switch len(args) {
	case 0:
	case 1:
		id = args[0]
	default:
		return fmt.Errorf("usage: go run ./functions/dev token-key [ID]")
	}
	entry := id + ":" + sealbox.NewKey()
	if _, err := sealbox.ParseKeys(entry); err != nil {
		return err
	}
	_, err := fmt.Fprintln(out, entry)
	return err
}
