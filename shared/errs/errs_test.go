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

type selfPermanent struct{}

func (selfPermanent) Error() string   { return "grant revoked" }
func (selfPermanent) Permanent() bool { return true }

func TestPermanent(t *testing.T) {
	base := errs.Forbidden("Google access was revoked")
	marked := fmt.Errorf("refresh token for account 7: %w", errs.Permanent(base))
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"marked and wrapped", marked, true},
		{"own method", fmt.Errorf("sync: %w", selfPermanent{}), true},
		{"joined", errors.Join(errors.New("other"), marked), true},
		{"unmarked kind", base, false},
		{"plain", errors.New("timeout"), false},
		{"nil", nil, false},
		{"marking nil", errs.Permanent(nil), false},
	}
	for _, tt := range tests {
		if got := errs.IsPermanent(tt.err); got != tt.want {
			t.Errorf("%s: IsPermanent = %v, want %v", tt.name, got, tt.want)
		}
	}
	if errs.KindOf(marked) != errs.KindForbidden || !errors.Is(marked, base) || marked.Error() != "refresh token for account 7: Google access was revoked" {
		t.Fatalf("the mark changed the error: kind %v, text %q", errs.KindOf(marked), marked.Error())
	}
}
