package sandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The scopes that let a token call the sandbox's Gmail methods (read
// access or more) and its People API methods (Contacts, read or more).
var (
	gmailScopes  = []string{"https://www.googleapis.com/auth/gmail.readonly", "https://www.googleapis.com/auth/gmail.modify", "https://mail.google.com/"}
	peopleScopes = []string{"https://www.googleapis.com/auth/contacts.readonly", "https://www.googleapis.com/auth/contacts"}
)

// googleStatus is the status Google's APIs name each HTTP code with.
var googleStatus = map[int]string{
	http.StatusBadRequest: "INVALID_ARGUMENT", http.StatusUnauthorized: "UNAUTHENTICATED",
	http.StatusForbidden: "PERMISSION_DENIED", http.StatusNotFound: "NOT_FOUND", http.StatusTooManyRequests: "RESOURCE_EXHAUSTED",
	http.StatusInternalServerError: "INTERNAL", http.StatusServiceUnavailable: "UNAVAILABLE",
}

// apiError is an error of one of Google's APIs, as they answer it: the
// JSON body {"error": {code, message, errors, status, details}}.
type apiError struct {
	code    int
	message string
	// item is the one entry of errors: message, domain, reason and, for
	// some, location and locationType.
	item map[string]string
	// details are google.rpc details (ErrorInfo, BadRequest, ...).
	details []map[string]any
	header  http.Header
}

func (e apiError) write(w http.ResponseWriter) {
	for k, v := range e.header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(e.code)
	body := map[string]any{"code": e.code, "message": e.message, "errors": []map[string]string{e.item}}
	if s, ok := googleStatus[e.code]; ok {
		body["status"] = s
	}
	if len(e.details) > 0 {
		body["details"] = e.details
	}
	json.NewEncoder(w).Encode(map[string]any{"error": body})
}

func gmailError(w http.ResponseWriter, code int, message, reason string) {
	apiError{code: code, message: message, item: map[string]string{"message": message, "domain": "global", "reason": reason}}.write(w)
}

// errorInfo is a google.rpc.ErrorInfo detail.
func errorInfo(reason string, metadata map[string]string) map[string]any {
	return map[string]any{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": "googleapis.com", "metadata": metadata}
}

// invalidEnum answers the 400 Google gives a query parameter or field
// whose value is not one of its enum's (which are case-sensitive).
func invalidEnum(w http.ResponseWriter, field, enumType, value string) {
	msg := fmt.Sprintf("Invalid value at '%s' (%s), %q", field, enumType, value)
	apiError{code: http.StatusBadRequest, message: msg,
		item: map[string]string{"message": msg, "reason": "invalid"},
		details: []map[string]any{{"@type": "type.googleapis.com/google.rpc.BadRequest",
			"fieldViolations": []map[string]string{{"field": field, "description": msg}}}},
	}.write(w)
}

// unauthenticated answers a call whose access token Google does not take
// (unknown, expired or revoked).
func unauthenticated(w http.ResponseWriter) {
	msg := "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
	apiError{code: http.StatusUnauthorized, message: msg,
		item:   map[string]string{"message": "Invalid Credentials", "domain": "global", "reason": "authError", "location": "Authorization", "locationType": "header"},
		header: http.Header{"Www-Authenticate": {`Bearer realm="https://accounts.google.com/", error="invalid_token"`}},
	}.write(w)
}

// scopeInsufficient answers a call whose access token was not granted a
// scope the method needs, one of accepted.
func scopeInsufficient(w http.ResponseWriter, service, method string, accepted []string) {
	apiError{code: http.StatusForbidden, message: "Request had insufficient authentication scopes.",
		item:    map[string]string{"message": "Insufficient Permission", "domain": "global", "reason": "insufficientPermissions"},
		details: []map[string]any{errorInfo("ACCESS_TOKEN_SCOPE_INSUFFICIENT", map[string]string{"service": service, "method": method})},
		header: http.Header{"Www-Authenticate": {`Bearer realm="https://accounts.google.com/", error="insufficient_scope", scope="` +
			strings.Join(accepted, " ") + `"`}},
	}.write(w)
}

// GoogleFailure is a failure the sandbox's Gmail or People API answers
// on demand (FailGmailWith, FailPeopleWith), in Google's error format.
type GoogleFailure struct {
	// Status is the HTTP status: 429, 403, 500, 503...
	Status int
	// Reason is the reason of the error's errors entry (rateLimitExceeded,
	// userRateLimitExceeded, backendError...); Domain its domain
	// (global, usageLimits).
	Reason, Domain string
	// Message is the error's message.
	Message string
	// Info, when set, is the reason of a google.rpc.ErrorInfo detail
	// (RATE_LIMIT_EXCEEDED).
	Info string
	// RetryAfter, when positive, is sent as the Retry-After header, in
	// seconds.
	RetryAfter time.Duration
	// Times is how many calls fail; 0 is every call until cleared.
	Times int
}

// GoogleRateLimited is Google's 429: too many requests, with Retry-After
// when retryAfter is positive.
func GoogleRateLimited(retryAfter time.Duration) GoogleFailure {
	return GoogleFailure{Status: http.StatusTooManyRequests, Reason: "rateLimitExceeded", Domain: "global",
		Message: "Resource has been exhausted (e.g. check quota).", RetryAfter: retryAfter}
}

// GoogleQuotaPerMinute is the 403 Google answers when a project's
// per-minute quota of an API is used up (reason rateLimitExceeded).
func GoogleQuotaPerMinute(service string, retryAfter time.Duration) GoogleFailure {
	return GoogleFailure{Status: http.StatusForbidden, Reason: "rateLimitExceeded", Domain: "usageLimits", Info: "RATE_LIMIT_EXCEEDED",
		Message:    fmt.Sprintf("Quota exceeded for quota metric 'Queries' and limit 'Queries per minute per user' of service '%s' for consumer 'project_number:100000000001'.", service),
		RetryAfter: retryAfter}
}

// GoogleUserRateLimited is the 403 Google answers when one user's calls
// go over their rate (reason userRateLimitExceeded).
func GoogleUserRateLimited(retryAfter time.Duration) GoogleFailure {
	return GoogleFailure{Status: http.StatusForbidden, Reason: "userRateLimitExceeded", Domain: "usageLimits",
		Message: "User Rate Limit Exceeded", RetryAfter: retryAfter}
}

// googleFailureOf is the usual failure of status.
func googleFailureOf(status int) GoogleFailure {
	switch {
	case status == 0:
		return GoogleFailure{}
	case status == http.StatusTooManyRequests:
		return GoogleRateLimited(0)
	case status == http.StatusServiceUnavailable:
		return GoogleFailure{Status: status, Reason: "backendError", Domain: "global", Message: "The service is currently unavailable."}
	case status >= 500:
		return GoogleFailure{Status: status, Reason: "backendError", Domain: "global", Message: "Internal error encountered."}
	}
	return GoogleFailure{Status: status, Reason: "failedPrecondition", Domain: "global", Message: http.StatusText(status)}
}

func (f GoogleFailure) write(w http.ResponseWriter, service string) {
	e := apiError{code: f.Status, message: f.Message, item: map[string]string{"message": f.Message, "domain": f.Domain, "reason": f.Reason}}
	if f.Info != "" {
		e.details = []map[string]any{errorInfo(f.Info, map[string]string{"service": service, "quota_metric": service + "/default",
			"quota_limit": "QueriesPerMinutePerUser", "consumer": "projects/100000000001"})}
	}
	if f.RetryAfter > 0 {
		e.header = http.Header{"Retry-After": {strconv.Itoa(int((f.RetryAfter + time.Second - 1) / time.Second))}}
	}
	e.write(w)
}

// apiFailure is a failure set on demand, with the calls it has left.
type apiFailure struct {
	GoogleFailure
	left int // 0: unlimited
}

// takeFailure returns the failure the next call answers, if any, and
// counts it.
func takeFailure(f **apiFailure) (GoogleFailure, bool) {
	a := *f
	if a == nil || a.Status == 0 {
		return GoogleFailure{}, false
	}
	if a.left > 0 {
		a.left--
		if a.left == 0 {
			*f = nil
		}
	}
	return a.GoogleFailure, true
}

func newFailure(f GoogleFailure) *apiFailure {
	if f.Status == 0 {
		return nil
	}
	return &apiFailure{GoogleFailure: f, left: f.Times}
}

// FailGmail makes the Gmail API answer status to every request (0: work
// again), with Google's usual error for it, as when Gmail rate limits
// (429) or fails (5xx).
func (g *Google) FailGmail(status int) { g.FailGmailWith(googleFailureOf(status)) }

// FailGmailWith makes the Gmail API answer f (a zero f: work again).
func (g *Google) FailGmailWith(f GoogleFailure) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gmailFail = newFailure(f)
}

// FailPeople makes the People API answer status to every request (0:
// work again), as FailGmail does.
func (g *Google) FailPeople(status int) { g.FailPeopleWith(googleFailureOf(status)) }

// FailPeopleWith makes the People API answer f (a zero f: work again).
func (g *Google) FailPeopleWith(f GoogleFailure) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.peopleFail = newFailure(f)
}

// apiMethod describes a method of one of Google's APIs the sandbox
// serves.
type apiMethod struct {
	// service is the API's service name (gmail.googleapis.com); calls
	// count as its short name and "short method".
	service, short, method string
	// rpc names the method in errors' ErrorInfo.
	rpc string
	// scopes are the scopes of which the access token needs one.
	scopes []string
	// fail is the API's failure on demand.
	fail **apiFailure
}

// apiCall starts a call of a method of one of Google's APIs, checking
// what Google checks in the order it does: the bearer token (401 when the
// sandbox did not issue it, or it expired or was revoked), its scopes
// (403 ACCESS_TOKEN_SCOPE_INSUFFICIENT), then the failure set on demand
// (rate limits, server errors). ok says the call may go on, as the person
// the token was issued to.
func (g *Google) apiCall(w http.ResponseWriter, r *http.Request, m apiMethod) (u GoogleUser, ok bool) {
	g.mu.Lock()
	g.calls[m.short]++
	g.calls[m.short+" "+m.method]++
	g.mu.Unlock()
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	u, scope, ok := g.grantOf(token)
	if !ok {
		unauthenticated(w)
		return GoogleUser{}, false
	}
	if !slices.ContainsFunc(strings.Fields(scope), func(s string) bool { return slices.Contains(m.scopes, s) }) {
		scopeInsufficient(w, m.service, m.rpc, m.scopes)
		return GoogleUser{}, false
	}
	g.mu.Lock()
	f, failing := takeFailure(m.fail)
	g.mu.Unlock()
	if failing {
		f.write(w, m.service)
		return GoogleUser{}, false
	}
	return u, true
}
