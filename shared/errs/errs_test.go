package errs_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/personalcrm/core/shared/errs"
)

func TestKindOfThroughWrapping(t *testing.T) {
	base := errs.NotFound("contact")
	wrapped := fmt.Errorf("get contact 42: %w", base)
	if got := errs.KindOf(wrapped); got != errs.KindNotFound {
		t.Fatalf("KindOf = %v, want not found", got)
	}
	if got := errs.KindOf(errors.New("boom")); got != errs.KindInternal {
		t.Fatalf("plain error kind = %v, want internal", got)
	}
	if errs.Is(nil, errs.KindInternal) {
		t.Fatal("nil error has a kind")
	}
}

func TestFields(t *testing.T) {
	f := errs.Fields{}
	if f.Err() != nil {
		t.Fatal("empty fields give an error")
	}
	f.Add("email", "must be a valid email address")
	f.Add("email", "is too long")
	err := f.Err()
	e, ok := errs.As(err)
	if !ok || e.Kind != errs.KindInvalid || len(e.Fields["email"]) != 2 {
		t.Fatalf("unexpected error %#v", err)
	}
	if got, want := err.Error(), "Invalid request data: email must be a valid email address, is too long"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
}
