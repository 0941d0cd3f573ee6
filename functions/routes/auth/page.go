package auth

import (
	"bytes"
	"html/template"
	"net/http"
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

// page is a failed sign-in's answer: a short page with status, and the
// state cookie cleared.
func page(status int, retry string, clear *http.Cookie) *Redirect {
	text, ok := pageText[status]
	if !ok {
		status, text = http.StatusInternalServerError, pageText[http.StatusInternalServerError]
	}
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
