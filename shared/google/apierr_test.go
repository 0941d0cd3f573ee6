package google_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/api/googleapi"

	"github.com/personalcrm/core/shared/errs"
	"github.com/personalcrm/core/shared/google"
)

// TestAPIError: each of Google's failures gets its kind, its message and
// whether a retry may help.
func TestAPIError(t *testing.T) {
	t.Parallel()
	account := uuid.New()
	gerr := func(code int, header http.Header, reasons ...string) error {
		e := &googleapi.Error{Code: code, Message: "m", Header: header}
		for _, r := range reasons {
			e.Errors = append(e.Errors, googleapi.ErrorItem{Reason: r})
		}
		return fmt.Errorf("call: %w", e)
	}
	in := func(d time.Duration) string { return time.Now().Add(d).UTC().Format(http.TimeFormat) }
	for _, tt := range []struct {
		name      string
		err       error
		kind      errs.Kind
		permanent bool
		message   string
		retry     time.Duration // at least
	}{
		{name: "scope not granted", err: gerr(403, nil, "insufficientPermissions"), kind: errs.KindForbidden, permanent: true,
			message: "Grant access to Gmail: sign in with Google again and allow reading your mail"},
		{name: "429 with Retry-After", err: gerr(429, http.Header{"Retry-After": {"120"}}, "rateLimitExceeded"), kind: errs.KindRateLimited,
			message: "limited", retry: 120 * time.Second},
		{name: "429 with a date", err: gerr(429, http.Header{"Retry-After": {in(10 * time.Minute)}}), kind: errs.KindRateLimited,
			message: "limited", retry: 9 * time.Minute},
		{name: "403 rateLimitExceeded", err: gerr(403, nil, "rateLimitExceeded"), kind: errs.KindRateLimited,
			message: "limited", retry: google.DefaultRetryAfter},
		{name: "403 userRateLimitExceeded", err: gerr(403, http.Header{"Retry-After": {"7"}}, "userRateLimitExceeded"), kind: errs.KindRateLimited,
			message: "limited", retry: 7 * time.Second},
		{name: "403 daily limit", err: gerr(403, nil, "dailyLimitExceeded"), kind: errs.KindRateLimited, message: "limited", retry: time.Hour},
		{name: "500", err: gerr(500, nil, "backendError"), kind: errs.KindUnavailable, message: "Gmail is unavailable"},
		{name: "503", err: gerr(503, nil), kind: errs.KindUnavailable, message: "Gmail is unavailable"},
		{name: "timeout", err: &url.Error{Op: "Get", URL: "https://gmail.googleapis.com", Err: context.DeadlineExceeded},
			kind: errs.KindUnavailable, message: "Gmail is unavailable"},
		{name: "grant gone", err: &google.ReconsentError{AccountID: account}, kind: errs.KindForbidden, permanent: true,
			message: google.ReconnectMessage},
		{name: "other refusal", err: gerr(400, nil, "invalidArgument"), kind: errs.KindInternal},
	} {
		err := google.APIError(google.Gmail, account, "limited", "call Gmail", tt.err)
		if got := errs.KindOf(err); got != tt.kind {
			t.Errorf("%s: kind %s, want %s (%v)", tt.name, got, tt.kind, err)
		}
		if got := errs.IsPermanent(err); got != tt.permanent {
			t.Errorf("%s: permanent %v", tt.name, got)
		}
		e, ok := errs.As(err)
		if tt.message != "" && (!ok || e.Message != tt.message) {
			t.Errorf("%s: message %v", tt.name, err)
		}
		if ok && e.RetryAfter < tt.retry {
			t.Errorf("%s: retry after %s, want at least %s", tt.name, e.RetryAfter, tt.retry)
		}
		if tt.name == "scope not granted" {
			var ng *google.NotGrantedError
			if !errors.As(err, &ng) || ng.AccountID != account {
				t.Errorf("%s: %v is not the account's NotGrantedError", tt.name, err)
			}
		}
	}
}
