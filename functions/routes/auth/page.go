package auth

import (
	"bytes"
	"html/template"
	"net/http"
	"strconv"
	"time"

	"github.com/personalcrm/core/shared/db"
)

// pageText says, for each failure status, what happened and what to do.
var pageText = map[int]struct{ Title, Message string }{
	http.StatusBadRequest: {"Sign-in did not work",
		"The sign-in link expired, was already used, or was started in another browser or tab. Please start again."},
	http.StatusForbidden: {"Sign-in cancelled",
		"Google did not let this app sign you in: access was declined, or the account's email address is not verified."},
	http.StatusConflict: {"Account already linked",
		"This email address already belongs to a user who signs in with a different Google account."},
	http.StatusServiceUnavailable: {"Google is not answering",
		"Google could not be reached. Please try again in a moment."},
	http.StatusInternalServerError: {"Something went wrong",
		"An unexpected error stopped the sign-in. Please try again."},
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{{.Title}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;line-height:1.5}</style>
</head><body><h1>{{.Title}}</h1><p>{{.Message}}</p><p><a href="{{.Retry}}">Sign in with Google</a></p></body></html>
`))

// busyText is the page of a sign-in that found the database unavailable
// (restarting or failing over): nothing was saved, and trying again a few
// seconds later works.
var busyText = struct{ Title, Message string }{"Sign-in could not finish",
	"The service is busy for a moment (nothing was saved). Please try again in a few seconds."}

// page is a failed sign-in's answer: a short page with status, and the
// state cookie cleared.
func page(status int, retry string, clear *http.Cookie) *Redirect {
	text, ok := pageText[status]
	if !ok {
		status, text = http.StatusInternalServerError, pageText[http.StatusInternalServerError]
	}
	return pageOf(status, text, retry, clear)
}

// busyPage is a sign-in's answer when the database is unavailable: 503,
// with Retry-After.
func busyPage(retry string, clear *http.Cookie) *Redirect {
	r := pageOf(http.StatusServiceUnavailable, busyText, retry, clear)
	r.RetryAfter = strconv.Itoa(int(db.RetryAfter / time.Second))
	return r
}

func pageOf(status int, text struct{ Title, Message string }, retry string, clear *http.Cookie) *Redirect {
	var b bytes.Buffer
	pageTemplate.Execute(&b, struct{ Title, Message, Retry string }{text.Title, text.Message, retry})
	return &Redirect{
		Status:       status,
		SetCookie:    []http.Cookie{*clear},
		CacheControl: "no-store",
		ContentType:  "text/html; charset=utf-8",
		CSP:          "default-src 'none'; style-src 'unsafe-inline'",
		Body:         b.Bytes(),
	}
}
