package google

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"google.golang.org/api/googleapi"

	"github.com/personalcrm/core/shared/errs"
)

// Service is one of Google's APIs as the CRM uses it: the name users know
// it by, the scopes of which an account's grant needs one, and what a
// person must do when their grant has none.
type Service struct {
	Name string
	// Scopes are the scopes that allow what the CRM does with the
	// service; the first is the one sign-in asks for.
	Scopes []string
	// grant is the error of an account that did not grant the service.
	grant *errs.Error
}

// The services the CRM reads.
var (
	// Gmail is read by mail sync and watched by gmail-watch.
	Gmail = Service{Name: "Gmail",
		Scopes: []string{ScopeGmailReadonly, "https://www.googleapis.com/auth/gmail.modify", "https://mail.google.com/"},
		grant:  errs.Forbidden("Grant access to Gmail: sign in with Google again and allow reading your mail"),
	}
	// Calendar is read by calendar sync.
	Calendar = Service{Name: "Google Calendar",
		Scopes: []string{ScopeCalendarReadonly, "https://www.googleapis.com/auth/calendar", "https://www.googleapis.com/auth/calendar.events.readonly",
			"https://www.googleapis.com/auth/calendar.events"},
		grant: errs.Forbidden("Grant access to Google Calendar: sign in with Google again and allow reading your calendar"),
	}
	// Contacts (Google Contacts, the People API) is read by enrichment.
	Contacts = Service{Name: "Google Contacts",
		Scopes: []string{ScopeContactsReadonly, "https://www.googleapis.com/auth/contacts"},
		grant:  errs.Forbidden("Grant access to Contacts: sign in with Google again and allow reading your contacts"),
	}
)

// Granted reports whether scope, the space-separated scopes of a grant as
// Google lists them, allows the service.
func (s Service) Granted(scope string) bool {
	return slices.ContainsFunc(strings.Fields(scope), func(sc string) bool { return slices.Contains(s.Scopes, sc) })
}

// NotGranted is the error of the account whose grant lacks the service.
func (s Service) NotGranted(accountID uuid.UUID) error {
	return &NotGrantedError{AccountID: accountID, Service: s.Name, err: s.grant}
}

// NotGrantedError says that an account's grant does not include a
// service's scopes (granular consent let the person untick it): only the
// person, by signing in again and allowing it, can change that. It is
// permanent for jobs (errs.IsPermanent) and Forbidden for the API, with
// a message saying what to grant.
type NotGrantedError struct {
	AccountID uuid.UUID
	Service   string
	err       *errs.Error
}

func (e *NotGrantedError) Error() string {
	return fmt.Sprintf("google account %s did not grant access to %s", e.AccountID, e.Service)
}

// Unwrap gives the error its kind and client-safe message.
func (e *NotGrantedError) Unwrap() error { return e.err }

// Permanent marks the error as one retrying cannot fix.
func (e *NotGrantedError) Permanent() bool { return true }

// Waits after a rate limit that names none.
const (
	// DefaultRetryAfter follows a per-minute rate limit.
	DefaultRetryAfter = 30 * time.Second
	// dailyRetryAfter follows a used-up daily quota.
	dailyRetryAfter = time.Hour
)

// APIError classifies the failure of a call to service (what says what
// the call did, for the log) in one place:
//
//   - 403 ACCESS_TOKEN_SCOPE_INSUFFICIENT (insufficientPermissions): the
//     account did not grant the service: *NotGrantedError, permanent,
//     "Grant access to ...".
//   - 429, and 403 rateLimitExceeded, userRateLimitExceeded,
//     quotaExceeded or dailyLimitExceeded: RateLimited after Google's
//     Retry-After (else DefaultRetryAfter, an hour for a daily limit),
//     with the message limited.
//   - 5xx, timeouts and an unreachable Google: Unavailable.
//   - A token the API refused (401) reaches here only after APIClient
//     renewed it once: a grant that is gone is *ReconsentError
//     (permanent, "Reconnect your Google account"); a renewed token
//     refused again is internal, and retried.
//
// Whatever else Google refuses is not expected and is internal. Errors of
// the token store keep their kind.
func APIError(service Service, accountID uuid.UUID, limited, what string, err error) error {
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		switch {
		case scopeInsufficient(ge):
			return fmt.Errorf("%s: %w", what, service.NotGranted(accountID))
		case ge.Code == http.StatusTooManyRequests || rateLimited(ge):
			e := errs.RateLimit(retryAfter(ge))
			e.Message, e.Err = limited, fmt.Errorf("%s: %w", what, err)
			return e
		case ge.Code >= 500:
			return errs.Unavailable(service.Name, fmt.Errorf("%s: %w", what, err))
		}
		return fmt.Errorf("%s: %s answered %d %s", what, service.Name, ge.Code, ge.Message)
	}
	var gone *ReconsentError
	if errors.As(err, &gone) || errs.KindOf(err) != errs.KindInternal {
		return fmt.Errorf("%s: %w", what, err)
	}
	// No answer: Google unreachable, or the call timed out.
	return errs.Unavailable(service.Name, fmt.Errorf("%s: %w", what, err))
}

// reasons are the reasons of a Google API error: its errors[].reason
// entries and its ErrorInfo's.
func reasons(ge *googleapi.Error) []string {
	var out []string
	for _, it := range ge.Errors {
		out = append(out, it.Reason)
	}
	// The details as decoded JSON, read here rather than through
	// gax-go's apierror, which would link gRPC into every function.
	for _, d := range ge.Details {
		if m, ok := d.(map[string]any); ok && m["@type"] == "type.googleapis.com/google.rpc.ErrorInfo" {
			if r, ok := m["reason"].(string); ok {
				out = append(out, r)
			}
		}
	}
	return out
}

func scopeInsufficient(ge *googleapi.Error) bool {
	return ge.Code == http.StatusForbidden && slices.ContainsFunc(reasons(ge), func(r string) bool {
		return r == "ACCESS_TOKEN_SCOPE_INSUFFICIENT" || r == "insufficientPermissions"
	})
}

func rateLimited(ge *googleapi.Error) bool {
	return ge.Code == http.StatusForbidden && slices.ContainsFunc(reasons(ge), func(r string) bool {
		switch r {
		case "rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded", "dailyLimitExceeded", "RATE_LIMIT_EXCEEDED":
			return true
		}
		return false
	})
}

// retryAfter is when Google says to try again: its Retry-After header (in
// seconds, or a date), else the default of the limit.
func retryAfter(ge *googleapi.Error) time.Duration {
	if v := ge.Header.Get("Retry-After"); v != "" {
		if s, err := strconv.Atoi(v); err == nil && s > 0 {
			return time.Duration(s) * time.Second
		}
		if t, err := http.ParseTime(v); err == nil && time.Until(t) > 0 {
			return time.Until(t).Round(time.Second)
		}
	}
	if slices.Contains(reasons(ge), "dailyLimitExceeded") {
		return dailyRetryAfter
	}
	return DefaultRetryAfter
}
