package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/personalcrm/core/shared/errs"
)

// Error codes of the envelope.
const (
	CodeValidation       = "VALIDATION_ERROR"
	CodeAuthentication   = "AUTHENTICATION_ERROR"
	CodeForbidden        = "FORBIDDEN"
	CodeNotFound         = "NOT_FOUND"
	CodeMethodNotAllowed = "METHOD_NOT_ALLOWED"
	CodeConflict         = "CONFLICT"
	CodeTooLarge         = "PAYLOAD_TOO_LARGE"
	CodeUnsupported      = "UNSUPPORTED_MEDIA_TYPE"
	CodeRateLimit        = "RATE_LIMIT"
	CodeUnavailable      = "UNAVAILABLE"
	CodeInternal         = "INTERNAL_ERROR"
)

// internalMessage is all a client learns of an unexpected error.
const internalMessage = "An unexpected error occurred"

// kinds maps each error kind to its status and code: the one place where
// errors become HTTP.
var kinds = map[errs.Kind]struct {
	status int
	code   string
}{
	errs.KindInvalid:         {http.StatusBadRequest, CodeValidation},
	errs.KindUnauthenticated: {http.StatusUnauthorized, CodeAuthentication},
	errs.KindForbidden:       {http.StatusForbidden, CodeForbidden},
	errs.KindNotFound:        {http.StatusNotFound, CodeNotFound},
	errs.KindConflict:        {http.StatusConflict, CodeConflict},
	errs.KindTooLarge:        {http.StatusRequestEntityTooLarge, CodeTooLarge},
	errs.KindUnsupported:     {http.StatusUnsupportedMediaType, CodeUnsupported},
	errs.KindRateLimited:     {http.StatusTooManyRequests, CodeRateLimit},
	errs.KindUnavailable:     {http.StatusServiceUnavailable, CodeUnavailable},
	errs.KindInternal:        {http.StatusInternalServerError, CodeInternal},
}

// Envelope is the body of every error response:
// {"error": {"code": ..., "message": ..., "fields": {...}}}.
type Envelope struct {
	status int
	Body   ErrorBody `json:"error"`
}

// ErrorBody is what went wrong.
type ErrorBody struct {
	Code    string `json:"code" enum:"VALIDATION_ERROR,AUTHENTICATION_ERROR,FORBIDDEN,NOT_FOUND,METHOD_NOT_ALLOWED,CONFLICT,PAYLOAD_TOO_LARGE,UNSUPPORTED_MEDIA_TYPE,RATE_LIMIT,UNAVAILABLE,INTERNAL_ERROR" doc:"Machine-readable error code"`
	Message string `json:"message" doc:"What went wrong, for people"`
	// Fields maps each invalid input field to its problems.
	Fields map[string][]string `json:"fields,omitempty" doc:"Problems per input field (validation errors only)"`
	// RetryAfter is in seconds (rate limits and unavailable dependencies).
	RetryAfter int `json:"retryAfter,omitempty" doc:"Seconds to wait before retrying (rate limits, and a dependency such as the database unavailable for a moment)"`
}

func (e *Envelope) Error() string  { return e.Body.Code + ": " + e.Body.Message }
func (e *Envelope) GetStatus() int { return e.status }

// GetHeaders adds Retry-After to rate-limited and unavailable responses.
func (e *Envelope) GetHeaders() http.Header {
	if e.Body.RetryAfter > 0 {
		return http.Header{"Retry-After": {strconv.Itoa(e.Body.RetryAfter)}}
	}
	return nil
}

// Status is the HTTP status of the error.
func (e *Envelope) Status() int { return e.status }

// envelopeOf turns an error into the client's envelope. Internal errors
// keep nothing of their text.
func envelopeOf(err error) *Envelope {
	if env, ok := err.(*Envelope); ok {
		return env
	}
	e, ok := errs.As(err)
	if !ok {
		return &Envelope{status: http.StatusInternalServerError, Body: ErrorBody{Code: CodeInternal, Message: internalMessage}}
	}
	k, ok := kinds[e.Kind]
	if !ok || e.Kind == errs.KindInternal {
		return &Envelope{status: http.StatusInternalServerError, Body: ErrorBody{Code: CodeInternal, Message: internalMessage}}
	}
	env := &Envelope{status: k.status, Body: ErrorBody{Code: k.code, Message: e.Message, Fields: e.Fields}}
	if e.Kind == errs.KindRateLimited || e.Kind == errs.KindUnavailable {
		// At least a second: a client told to wait 0 would not wait.
		env.Body.RetryAfter = int((e.RetryAfter + time.Second - 1) / time.Second)
		if env.Body.RetryAfter < 1 {
			env.Body.RetryAfter = 1
		}
	}
	return env
}

// toEnvelope is envelopeOf that logs what the client does not see: the
// chain of internal errors, and the causes of unavailable dependencies.
func toEnvelope(ctx context.Context, log *slog.Logger, err error) *Envelope {
	env := envelopeOf(err)
	switch {
	case env.status >= 500 && env.status != http.StatusServiceUnavailable:
		log.ErrorContext(ctx, "request failed", "err", err)
	case env.status == http.StatusServiceUnavailable:
		log.WarnContext(ctx, "dependency unavailable", "err", err)
	}
	return env
}

// WriteError writes err as an envelope, for handlers outside the typed
// routes (such as the local server's extras).
func (s *Server) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	writeEnvelope(w, toEnvelope(r.Context(), s.log, err))
}

func writeEnvelope(w http.ResponseWriter, env *Envelope) {
	for k, v := range env.GetHeaders() {
		w.Header()[k] = v
	}
	WriteJSON(w, env.status, env)
}

// WriteJSON writes v as a JSON response with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"INTERNAL_ERROR","message":"An unexpected error occurred"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// newHumaError replaces huma.NewError so that the errors huma produces
// itself (validation, body size, media type) use the envelope.
func newHumaError(status int, msg string, details ...error) huma.StatusError {
	switch status {
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		fields := errs.Fields{}
		for _, d := range details {
			if d == nil {
				continue
			}
			field, problem := "body", d.Error()
			if ed, ok := d.(huma.ErrorDetailer); ok {
				det := ed.ErrorDetail()
				field, problem = fieldProblem(det.Location, det.Message, status)
			}
			fields.Add(field, problem)
		}
		if len(fields) == 0 {
			fields.Add("body", "is invalid")
		}
		return &Envelope{status: http.StatusBadRequest, Body: ErrorBody{Code: CodeValidation, Message: errs.InvalidMessage, Fields: fields}}
	case http.StatusRequestEntityTooLarge:
		return &Envelope{status: status, Body: ErrorBody{Code: CodeTooLarge, Message: "Request body is too large"}}
	case http.StatusUnsupportedMediaType:
		return &Envelope{status: status, Body: ErrorBody{Code: CodeUnsupported, Message: "Request body must be application/json"}}
	case http.StatusNotAcceptable:
		return &Envelope{status: status, Body: ErrorBody{Code: CodeUnsupported, Message: "Responses are application/json"}}
	case http.StatusUnauthorized:
		return &Envelope{status: status, Body: ErrorBody{Code: CodeAuthentication, Message: "Authentication required"}}
	case http.StatusNotFound:
		return &Envelope{status: status, Body: ErrorBody{Code: CodeNotFound, Message: "Not found"}}
	case 0: // huma asks for an example to document the error schema
		return &Envelope{}
	}
	if status >= 500 {
		return &Envelope{status: http.StatusInternalServerError, Body: ErrorBody{Code: CodeInternal, Message: internalMessage}}
	}
	return &Envelope{status: status, Body: ErrorBody{Code: CodeValidation, Message: http.StatusText(status)}}
}

// fieldProblem turns huma's location ("body.email", "query.limit",
// "path.id") and message into the client's field name and a plain problem.
func fieldProblem(location, msg string, status int) (string, string) {
	field := location
	if i := strings.IndexByte(location, '.'); i >= 0 {
		field = location[i+1:]
	}
	if strings.HasPrefix(msg, "expected required property ") && strings.HasSuffix(msg, " to be present") {
		name := strings.TrimSuffix(strings.TrimPrefix(msg, "expected required property "), " to be present")
		if field == location { // the body itself
			return name, "is required"
		}
		return field + "." + name, "is required"
	}
	if location == "body" && status == http.StatusBadRequest {
		return "body", "must be valid JSON"
	}
	return field, friendly(msg)
}

// friendly rewords huma's validation messages for people.
func friendly(msg string) string {
	for _, r := range rewordings {
		if strings.HasPrefix(msg, r.prefix) {
			if r.withArg {
				return r.to + strings.TrimSpace(strings.TrimPrefix(msg, r.prefix)) + r.suffix
			}
			return r.to
		}
	}
	return msg
}

var rewordings = []struct {
	prefix, to, suffix string
	withArg            bool
}{
	{prefix: "expected string to be RFC 5322 email", to: "must be a valid email address"},
	{prefix: "expected string to be RFC 4122 uuid", to: "must be a valid UUID"},
	{prefix: "invalid value: invalid UUID", to: "must be a valid UUID"},
	{prefix: "expected string to be RFC 3339 date-time", to: "must be an RFC 3339 date-time"},
	{prefix: "expected string to be RFC 3986 uri", to: "must be a valid URI"},
	{prefix: "expected length <= ", to: "must be at most ", suffix: " characters", withArg: true},
	{prefix: "expected length >= ", to: "must be at least ", suffix: " characters", withArg: true},
	{prefix: "expected number >= ", to: "must be at least ", withArg: true},
	{prefix: "expected number <= ", to: "must be at most ", withArg: true},
	{prefix: "expected array length <= ", to: "must have at most ", suffix: " items", withArg: true},
	{prefix: "expected array length >= ", to: "must have at least ", suffix: " items", withArg: true},
	{prefix: "expected value to be one of ", to: "must be one of ", withArg: true},
	{prefix: "expected string to match pattern", to: "has an invalid format"},
	{prefix: "expected string", to: "must be a string"},
	{prefix: "expected integer", to: "must be a whole number"},
	{prefix: "invalid integer", to: "must be a whole number"},
	{prefix: "expected number", to: "must be a number"},
	{prefix: "invalid float", to: "must be a number"},
	{prefix: "expected boolean", to: "must be true or false"},
	{prefix: "invalid boolean", to: "must be true or false"},
	{prefix: "expected object", to: "must be an object"},
	{prefix: "expected array", to: "must be an array"},
	{prefix: "unexpected property", to: "is not a known field"},
}

func init() {
	huma.NewError = newHumaError
}

// ErrorStatuses documents the error responses a route may give.
func errorStatuses(signed, hasBody, hasID bool) []int {
	out := []int{http.StatusBadRequest}
	if signed {
		out = append(out, http.StatusUnauthorized)
	}
	if hasID {
		out = append(out, http.StatusNotFound)
	}
	if hasBody {
		out = append(out, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType)
	}
	return append(out, http.StatusInternalServerError)
}
