//go:build !unix

package testkit

import (
	"errors"
	"os/exec"
	"os/user"
)

// runAs cannot change users here.
func runAs(*exec.Cmd, *user.User) error {
	return errors.New("running PostgreSQL as another user needs a Unix system")
}
