package main

import (
	"bytes"
	"context"
	_ "embed"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/auth"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/domain/contact"
	"github.com/personalcrm/core/shared/domain/user"
	"github.com/personalcrm/core/shared/errs"
)

// The local server's own pages: the home page (GET /), a contact's
// timeline (GET /contacts/{id}) and the API reference (GET /docs). They
// are rendered on the server, run no script and load nothing from
// elsewhere; only the local server has them.

// Limits of the home page: how many contacts it reads, how many it shows
// with their figures, and how many timeline items a contact's page shows.
const (
	homeMaxContacts = 1000
	homeShown       = 100
	timelineMax     = 1000
)

// pageCSP is every page's Content-Security-Policy: nothing but the local
// server's own files, no inline script or style, no framing.
const pageCSP = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'"

//go:embed assets/local.css
var localCSS []byte

// signInReasons explain the error codes sign-in comes back with
// (AUTH_REDIRECT_URL?error=<code>).
var signInReasons = map[string]string{
	"access_denied":           "Google did not let this app sign you in: access was declined, or the account's email address is not verified.",
	"invalid_request":         "The sign-in link expired, was already used, or was started in another browser or tab. Please start again.",
	"account_conflict":        "This email address already belongs to a user who signs in with a different Google account.",
	"temporarily_unavailable": "Signing in could not finish: a service did not answer. Please try again in a moment.",
	"server_error":            "An unexpected error stopped the sign-in. Please try again.",
}

// sessionResolver finds the session of a token (api.Authenticator).
type sessionResolver interface {
	Resolve(ctx context.Context, token string) (auth.Principal, error)
}

// pages serves the local server's pages for the person whose session
// cookie the browser sends.
type pages struct {
	log      *slog.Logger
	cookie   auth.Cookie
	sessions sessionResolver
	users    *user.Service
	contacts *contact.Service
	// db reads the sync states, which no domain service shows.
	db      db.Querier
	authURL *url.URL
}

// routes mounts the pages on srv.
func (p *pages) routes(srv *api.Server, document []byte) error {
	d, err := docs(document)
	if err != nil {
		return err
	}
	srv.HandleFunc("GET /{$}", p.home)
	srv.HandleFunc("GET /contacts/{id}", p.contact)
	srv.HandleFunc("GET /docs", d)
	// No icon: an empty answer rather than a 404 in the browser's console.
	srv.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=86400")
		w.WriteHeader(http.StatusNoContent)
	})
	srv.HandleFunc("GET /assets/local.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Write(localCSS)
	})
	return nil
}

// principal is the signed-in person, if the request carries a live
// session cookie. A renewed session's cookie is sent again.
func (p *pages) principal(w http.ResponseWriter, r *http.Request) (auth.Principal, bool, error) {
	token := p.cookie.Read(r)
	if token == "" {
		return auth.Principal{}, false, nil
	}
	pr, err := p.sessions.Resolve(r.Context(), token)
	if errs.Is(err, errs.KindUnauthenticated) {
		return auth.Principal{}, false, nil
	}
	if err != nil {
		return auth.Principal{}, false, err
	}
	if pr.Renewed {
		http.SetCookie(w, p.cookie.Set(token, pr.ExpiresAt))
	}
	return pr, true, nil
}

// homeView is what the home page shows.
type homeView struct {
	Error      string
	SignedIn   bool
	Email      string
	Name       string
	LogoutURL  string
	Syncs      []syncView
	Contacts   []contactRow
	Total      int
	TotalMore  bool
	Truncated  bool
	NoAccounts bool
}

type syncView struct {
	Mail, Calendar syncStatus
}

type syncStatus struct {
	// State is new (never synced), full (a full sync in progress) or
	// synced.
	State      string
	LastSynced *time.Time
}

type contactRow struct {
	ID                uuid.UUID
	Name, Email       string
	Company           string
	InteractionCount  int
	LastInteractionAt *time.Time
	Sent, Received    int
	Meetings          int
}

func (p *pages) home(w http.ResponseWriter, r *http.Request) {
	v := homeView{}
	if code := r.URL.Query().Get("error"); code != "" {
		v.Error = signInReasons[code]
		if v.Error == "" {
			v.Error = code
		}
	}
	pr, ok, err := p.principal(w, r)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	if !ok {
		writePage(w, http.StatusOK, homeTemplate, v)
		return
	}
	ctx := r.Context()
	u, err := p.users.Get(ctx, pr.UserID)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	v.SignedIn, v.Email = true, u.Email
	if u.Name != nil {
		v.Name = *u.Name
	}
	v.LogoutURL = "/auth/logout?returnTo=" + url.QueryEscape(p.authURL.JoinPath("/").String())
	if v.Syncs, err = p.syncs(ctx, pr.UserID); err != nil {
		p.fail(w, r, err)
		return
	}
	v.NoAccounts = len(v.Syncs) == 0
	all, truncated, err := p.allContacts(ctx, pr.UserID)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	sortByLastInteraction(all)
	v.Total, v.TotalMore, v.Truncated = len(all), truncated, truncated || len(all) > homeShown
	if len(all) > homeShown {
		all = all[:homeShown]
	}
	for _, c := range all {
		v.Contacts = append(v.Contacts, contactRow{ID: c.ID, Name: deref(c.Name), Email: deref(c.Email), Company: deref(c.Company),
			InteractionCount: c.InteractionCount, LastInteractionAt: c.LastInteractionAt,
			Sent: c.EmailsSent, Received: c.EmailsReceived, Meetings: c.Meetings})
	}
	writePage(w, http.StatusOK, homeTemplate, v)
}

// allContacts reads the user's contacts, at most homeMaxContacts (more:
// true when there are more).
func (p *pages) allContacts(ctx context.Context, userID uuid.UUID) ([]contact.Contact, bool, error) {
	var all []contact.Contact
	q := contact.Query{Limit: contact.MaxLimit}
	for {
		page, err := p.contacts.List(ctx, userID, q)
		if err != nil {
			return nil, false, err
		}
		all = append(all, page.Items...)
		if page.Next == nil {
			return all, false, nil
		}
		if len(all) >= homeMaxContacts {
			return all[:homeMaxContacts], true, nil
		}
		q.After = page.Next
	}
}

// sortByLastInteraction orders contacts by their last interaction, most
// recent first; those without one go last, in name order.
func sortByLastInteraction(cs []contact.Contact) {
	slices.SortStableFunc(cs, func(a, b contact.Contact) int {
		switch {
		case a.LastInteractionAt == nil && b.LastInteractionAt == nil:
			return 0
		case a.LastInteractionAt == nil:
			return 1
		case b.LastInteractionAt == nil:
			return -1
		}
		return b.LastInteractionAt.Compare(*a.LastInteractionAt)
	})
}

// timeline reads a contact's timeline, newest first, at most timelineMax
// items (more: true when there are more). Errors: NotFound (not the
// user's contact).
func (p *pages) timeline(ctx context.Context, userID, id uuid.UUID) ([]contact.Item, bool, error) {
	var items []contact.Item
	q := contact.TimelineQuery{Limit: contact.MaxLimit}
	for {
		t, err := p.contacts.Timeline(ctx, userID, id, q)
		if err != nil {
			return nil, false, err
		}
		items = append(items, t.Items...)
		if t.Next == nil {
			return items, false, nil
		}
		if len(items) >= timelineMax {
			return items[:timelineMax], true, nil
		}
		q.After = t.Next
	}
}

// syncs is where the mail and calendar syncs of each of the user's
// accounts stand. The mail sync's state follows the calendar's words: new
// before its first full sync starts, full while one runs, synced after.
func (p *pages) syncs(ctx context.Context, userID uuid.UUID) ([]syncView, error) {
	rows, err := p.db.Query(ctx, `
		select case when m.full_history_id is not null then 'full'
				when m.history_id is not null then 'synced' else 'new' end,
			m.last_synced_at, coalesce(c.status, 'new'), c.last_synced_at
		from accounts a
			left join sync_state m on m.account_id = a.id and m.user_id = a.user_id
			left join calendar_sync_state c on c.account_id = a.id and c.user_id = a.user_id
		where a.user_id = $1
		order by a.created_at, a.id`, userID)
	if err != nil {
		return nil, db.Err(err, "sync state")
	}
	defer rows.Close()
	var out []syncView
	for rows.Next() {
		var s syncView
		if err := rows.Scan(&s.Mail.State, &s.Mail.LastSynced, &s.Calendar.State, &s.Calendar.LastSynced); err != nil {
			return nil, db.Err(err, "sync state")
		}
		out = append(out, s)
	}
	return out, db.Err(rows.Err(), "sync state")
}

// contactView is what a contact's page shows.
type contactView struct {
	Name, Email, Company string
	InteractionCount     int
	LastInteractionAt    *time.Time
	Items                []itemView
	Truncated            bool
}

type itemView struct {
	Kind, Title, Direction string
	At                     time.Time
}

func (p *pages) contact(w http.ResponseWriter, r *http.Request) {
	pr, ok, err := p.principal(w, r)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	if !ok {
		writePage(w, http.StatusUnauthorized, messageTemplate, message{Title: "Not signed in",
			Text: "Sign in to see your contacts.", SignIn: true})
		return
	}
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		p.notFound(w)
		return
	}
	ctx := r.Context()
	c, err := p.contacts.Get(ctx, pr.UserID, id)
	if errs.Is(err, errs.KindNotFound) {
		p.notFound(w)
		return
	}
	if err != nil {
		p.fail(w, r, err)
		return
	}
	items, more, err := p.timeline(ctx, pr.UserID, id)
	if errs.Is(err, errs.KindNotFound) {
		p.notFound(w)
		return
	}
	if err != nil {
		p.fail(w, r, err)
		return
	}
	v := contactView{Name: deref(c.Name), Email: deref(c.Email), Company: deref(c.Company),
		InteractionCount: c.InteractionCount, LastInteractionAt: c.LastInteractionAt, Truncated: more}
	for _, it := range items {
		v.Items = append(v.Items, itemView{Kind: it.Kind, Title: deref(it.Title), Direction: it.Direction, At: it.At})
	}
	writePage(w, http.StatusOK, contactTemplate, v)
}

func (p *pages) notFound(w http.ResponseWriter) {
	writePage(w, http.StatusNotFound, messageTemplate, message{Title: "Not found",
		Text: "There is no such contact among yours."})
}

// fail answers a page that could not be made with 500 (503 when a
// service is unavailable), logging why.
func (p *pages) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	if errs.Is(err, errs.KindUnavailable) {
		status = http.StatusServiceUnavailable
	}
	p.log.ErrorContext(r.Context(), "page failed", "path", r.URL.Path, "err", err)
	writePage(w, status, messageTemplate, message{Title: "Something went wrong",
		Text: "The page could not be made; the server's log says why. Please try again."})
}

type message struct {
	Title, Text string
	SignIn      bool
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// writePage renders t with v and sends it with status, the pages'
// security headers, and no caching (the pages show private data).
func writePage(w http.ResponseWriter, status int, t *template.Template, v any) {
	var b bytes.Buffer
	if err := t.Execute(&b, v); err != nil {
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

var pageFuncs = template.FuncMap{
	"when": func(t *time.Time) string {
		if t == nil {
			return "never"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"at":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"iso": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
}

const pageHead = `{{define "head"}}<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.}} · Personal CRM (local)</title>
<link rel="stylesheet" href="/assets/local.css"></head><body>{{end}}`

var homeTemplate = template.Must(template.New("home").Funcs(pageFuncs).Parse(pageHead + `{{template "head" "Home"}}
<h1>Personal CRM, local server</h1>
{{with .Error}}<p id="error" class="error">Sign-in failed: {{.}}</p>{{end}}
{{if .SignedIn}}
<p id="who">Signed in as <strong>{{.Email}}</strong>{{with .Name}} ({{.}}){{end}}.</p>
<form method="post" action="{{.LogoutURL}}"><button type="submit">Sign out</button></form>
<h2>Sync</h2>
{{if .NoAccounts}}<p id="sync">No Google account is connected: <a href="/auth/google/login">sign in with Google</a> to sync mail and calendar.</p>
{{else}}<table id="sync"><thead><tr><th>What</th><th>State</th><th>Last synced</th></tr></thead><tbody>
{{range .Syncs}}<tr><td>Mail</td><td class="state">{{.Mail.State}}</td><td>{{when .Mail.LastSynced}}</td></tr>
<tr><td>Calendar</td><td class="state">{{.Calendar.State}}</td><td>{{when .Calendar.LastSynced}}</td></tr>
{{end}}</tbody></table>{{end}}
<h2>Contacts</h2>
{{if .Contacts}}<p>Most recent interaction first{{if .Truncated}}; showing {{len .Contacts}} of {{.Total}}{{if .TotalMore}}+{{end}}{{end}}.</p>
<table id="contacts"><thead><tr><th>Contact</th><th>Last interaction</th><th>Interactions</th><th>Emails sent</th><th>Emails received</th><th>Meetings</th></tr></thead><tbody>
{{range .Contacts}}<tr class="contact"><td><a href="/contacts/{{.ID}}">{{if .Name}}{{.Name}}{{else}}{{.Email}}{{end}}</a>{{if and .Name .Email}} <span class="muted">{{.Email}}</span>{{end}}{{with .Company}} · {{.}}{{end}}</td>
<td>{{when .LastInteractionAt}}</td><td class="num">{{.InteractionCount}}</td><td class="num">{{.Sent}}</td><td class="num">{{.Received}}</td><td class="num">{{.Meetings}}</td></tr>
{{end}}</tbody></table>
{{else}}<p id="no-contacts">No contacts yet. Right after signing in the background jobs sync your mail and calendar and find the people in them: reload in a moment.</p>{{end}}
{{else}}
<p id="who">Not signed in.</p>
<p><a id="signin" href="/auth/google/login">Sign in with Google</a> (without <code>GOOGLE_CLIENT_ID</code> the local sandbox Google, which takes any email address and gives you a few weeks of sample mail and meetings).</p>
{{end}}
<h2>API</h2>
<p><a id="docs" href="/docs">API reference</a> · <a href="/openapi.json">OpenAPI document</a> · <a href="/health">health</a></p>
</body></html>`))

var contactTemplate = template.Must(template.New("contact").Funcs(pageFuncs).Parse(pageHead + `{{template "head" (or .Name .Email "Contact")}}
<p><a href="/">Home</a></p>
<h1>{{if .Name}}{{.Name}}{{else}}{{.Email}}{{end}}</h1>
<p>{{with .Email}}{{.}}{{end}}{{with .Company}} · {{.}}{{end}} · {{.InteractionCount}} interactions · last {{when .LastInteractionAt}}</p>
<h2>Timeline</h2>
{{if .Items}}<table id="timeline"><thead><tr><th>When</th><th>What</th><th>Title</th><th>Direction</th></tr></thead><tbody>
{{range .Items}}<tr class="item {{.Kind}}"><td><time datetime="{{iso .At}}">{{at .At}}</time></td><td class="kind">{{.Kind}}</td><td class="title">{{.Title}}</td><td class="direction">{{.Direction}}</td></tr>
{{end}}</tbody></table>{{if .Truncated}}<p>Showing the newest {{len .Items}}.</p>{{end}}
{{else}}<p>No emails or meetings with this contact yet.</p>{{end}}
</body></html>`))

var messageTemplate = template.Must(template.New("message").Parse(pageHead + `{{template "head" .Title}}
<p><a href="/">Home</a></p>
<h1>{{.Title}}</h1>
<p>{{.Text}}</p>
{{if .SignIn}}<p><a href="/auth/google/login">Sign in with Google</a></p>{{end}}
</body></html>`))
