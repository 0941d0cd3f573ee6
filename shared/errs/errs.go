// Package errs defines the few kinds of error the system distinguishes and
// the client-safe error that carries one. shared/api maps kinds to HTTP
// statuses in one place; job adapters map them to retry decisions.
//
// Errors of these kinds carry a message safe to show a client. Any other
// error is internal: its text goes to the log, never to a client.
package errs

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Kind classifies an error.
type Kind int

// The kinds of error.
const (
	// KindInternal is anything unexpected; the client learns nothing about it.
	KindInternal Kind = iota
	// KindInvalid is bad input; Fields says which fields and why.
	KindInvalid
	// KindUnauthenticated is a missing, expired or revoked session.
	KindUnauthenticated
	// KindForbidden is a signed-in user asking for something not allowed.
	KindForbidden
	// KindNotFound is a missing object, or one owned by someone else.
	KindNotFound
	// KindConflict is a duplicate or a state conflict.
	KindConflict
	// KindTooLarge is a request body over the limit.
	KindTooLarge
	// KindUnsupported is a request body of a media type the route does not take.
	KindUnsupported
	// KindRateLimited is a caller over its rate limit; RetryAfter says when to retry.
	KindRateLimited
	// KindUnavailable is a dependency that is down; the client may retry.
	KindUnavailable
)

var kindNames = [...]string{"internal", "invalid", "unauthenticated", "forbidden", "not found", "conflict", "too large", "unsupported", "rate limited", "unavailable"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Error is an error of a known kind with a client-safe message.
type Error struct {
	Kind Kind
	// Message is safe to show a client.
	Message string
	// Fields maps an input field (as the client spelt it) to what is wrong with it.
	Fields map[string][]string
	// RetryAfter is how long a rate-limited client should wait; on an
	// Unavailable error, when set, when to try again.
	RetryAfter time.Duration
	// Err is the cause, for the log only.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Message)
	if len(e.Fields) > 0 {
		names := make([]string, 0, len(e.Fields))
		for f := range e.Fields {
			names = append(names, f)
		}
		sort.Strings(names)
		for i, f := range names {
			if i == 0 {
				b.WriteString(": ")
			} else {
				b.WriteString("; ")
			}
			b.WriteString(f + " " + strings.Join(e.Fields[f], ", "))
		}
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the kind of the first *Error in err's chain, or KindInternal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// As returns the first *Error in err's chain.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// Is reports whether err is of kind k.
func Is(err error, k Kind) bool { return err != nil && KindOf(err) == k }

// NotFound reports that a thing does not exist for this user:
// NotFound("contact") says "Contact not found".
func NotFound(what string) *Error {
	return &Error{Kind: KindNotFound, Message: capitalize(what) + " not found"}
}

func capitalize(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

// Conflict reports a duplicate or a state conflict.
func Conflict(msg string) *Error { return &Error{Kind: KindConflict, Message: msg} }

// Forbidden reports a signed-in user asking for something not allowed.
func Forbidden(msg string) *Error { return &Error{Kind: KindForbidden, Message: msg} }

// Unauthenticated reports a missing or bad session.
func Unauthenticated(msg string) *Error { return &Error{Kind: KindUnauthenticated, Message: msg} }

// Unavailable reports a dependency that is down; cause goes to the log.
func Unavailable(what string, cause error) *Error {
	return &Error{Kind: KindUnavailable, Message: capitalize(what) + " is unavailable", Err: cause}
}

// RateLimit reports a caller over its limit.
func RateLimit(retryAfter time.Duration) *Error {
	return &Error{Kind: KindRateLimited, Message: "Too many requests", RetryAfter: retryAfter}
}

// Field reports one invalid field.
func Field(field, problem string) *Error {
	return &Error{Kind: KindInvalid, Message: InvalidMessage, Fields: map[string][]string{field: {problem}}}
}

// InvalidMessage is the message of every validation error.
const InvalidMessage = "Invalid request data"

// Fields collects per-field problems; its Err is nil when there are none.
type Fields map[string][]string

// Add records a problem with field.
func (f Fields) Add(field, problem string) { f[field] = append(f[field], problem) }

// Err returns an Invalid error listing the problems, or nil.
func (f Fields) Err() error {
	if len(f) == 0 {
		return nil
	}
	return &Error{Kind: KindInvalid, Message: InvalidMessage, Fields: f}
}
