package google

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"google.golang.org/api/googleapi"

	"github.com/personalcrm/core/shared/errs"
)

// APIError says what failed in a call to one of Google's APIs (service
// names it to users, "Gmail"): its rate limits are RateLimited, after
// Google's Retry-After (30 seconds without one), with the message
// limited; its server errors and unreachability are Unavailable;
// whatever else it refuses is not expected and is an internal error.
// Errors of the token source keep their kind: an account that needs
// consent again is permanent.
func APIError(service, limited, what string, err error) error {
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		switch {
		case ge.Code == http.StatusTooManyRequests:
			retry := 30 * time.Second
			if s, err := strconv.Atoi(ge.Header.Get("Retry-After")); err == nil && s > 0 {
				retry = time.Duration(s) * time.Second
			}
			e := errs.RateLimit(retry)
			e.Message, e.Err = limited, fmt.Errorf("%s: %w", what, err)
			return e
		case ge.Code >= 500:
			return errs.Unavailable(service, fmt.Errorf("%s: %w", what, err))
		}
		return fmt.Errorf("%s: %s answered %d %s", what, service, ge.Code, ge.Message)
	}
	var gone *ReconsentError
	if errors.As(err, &gone) || errs.KindOf(err) != errs.KindInternal {
		return fmt.Errorf("%s: %w", what, err)
	}
	return errs.Unavailable(service, fmt.Errorf("%s: %w", what, err))
}
