package sandbox

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"html/template"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// Google is a sandbox Google: the OAuth 2.0 authorization server (a
// consent page, the token endpoint with client authentication, PKCE S256,
// the authorization code and refresh token grants, revocation) and the
// OpenID Connect endpoints (discovery, keys, userinfo), the Gmail API
// methods mail sync reads (a mailbox per person, in memory) and Gmail's
// batch endpoint, and the People
// API's contact search (Google Contacts per person), speaking Google's
// wire format so that golang.org/x/oauth2, google.golang.org/api/gmail/v1
// and google.golang.org/api/people/v1 run against it unchanged.
//
// Like Google, it issues a refresh token only with access_type=offline and
// only at consent: the first time a person allows the client, or when the
// client asks again with prompt=consent.
//
// Its state lives in memory. It serves tests (testkit.StartGoogle) and
// the local server, which mounts Handler under /sandbox/google when no
// Google client is configured.
type Google struct {
	base         string
	clientID     string
	clientSecret string
	accessTTL    time.Duration
	rotate       bool
	newMailbox   func(GoogleUser) []GmailMessage

	mu        sync.Mutex
	users     map[string]GoogleUser // by lower-case email
	codes     map[string]*authCode
	access    map[string]*accessGrant
	refresh   map[string]*refreshGrant
	consents  map[string]bool // subjects that allowed offline access
	issued    []string
	calls     map[string]int
	down      bool
	onRefresh func()

	// granted are the scopes each subject has granted the client, which
	// an authorization with include_granted_scopes adds to its own.
	granted map[string][]string

	boxes     map[string]*gmailBox // by lower-case email
	gmailFail *apiFailure

	books      map[string]*peopleBook // Google Contacts, by lower-case email
	peopleFail *apiFailure

	calendars    map[string]*calendar // primary calendars, by lower-case email
	calendarFail *apiFailure
	newCalendar  func(GoogleUser) []CalendarEvent
}

// GoogleUser is a person with a sandbox Google account.
type GoogleUser struct {
	Subject       string
	Email         string
	EmailVerified bool
	Name          string
	Picture       string
}

// GoogleOptions configure a sandbox Google.
type GoogleOptions struct {
	// BaseURL is where the sandbox is served: its issuer and the prefix
	// of the URLs it names. testkit.StartGoogle sets it.
	BaseURL string
	// ClientID and ClientSecret are the one client it accepts; empty are
	// the local server's sandbox credentials.
	ClientID, ClientSecret string
	// AccessTokenTTL is how long access tokens live; zero is Google's hour.
	AccessTokenTTL time.Duration
	// RotateRefreshTokens makes each refresh return a new refresh token and
	// retire the one used, as some providers do.
	RotateRefreshTokens bool
	// NewMailbox, when set, gives the mailbox of each person who first
	// appears at the consent page its messages, oldest first.
	NewMailbox func(u GoogleUser) []GmailMessage
	// NewCalendar, when set, gives the primary calendar of each person
	// who first appears at the consent page its events.
	NewCalendar func(u GoogleUser) []CalendarEvent
}

// The credentials of the sandbox's client, as shared/google names them.
const (
	sandboxClientID     = "sandbox-client.apps.googleusercontent.com"
	sandboxClientSecret = "sandbox-client-secret"
)

type authCode struct {
	clientID, redirectURI, challenge, scope, subject string
	offline, consent                                 bool
	expires                                          time.Time
	used                                             bool
}

type accessGrant struct {
	subject, scope string
	expires        time.Time
	refresh        string // the refresh token it was made with, if any
	revoked        bool
}

type refreshGrant struct {
	subject, scope, clientID string
	revoked                  bool
}

// NewGoogle returns a sandbox Google to serve with Handler.
func NewGoogle(o GoogleOptions) *Google {
	if o.ClientID == "" {
		o.ClientID, o.ClientSecret = sandboxClientID, sandboxClientSecret
	}
	if o.AccessTokenTTL == 0 {
		o.AccessTokenTTL = time.Hour
	}
	return &Google{
		base:         strings.TrimSuffix(o.BaseURL, "/"),
		clientID:     o.ClientID,
		clientSecret: o.ClientSecret,
		accessTTL:    o.AccessTokenTTL,
		rotate:       o.RotateRefreshTokens,
		newMailbox:   o.NewMailbox,
		newCalendar:  o.NewCalendar,
		calendars:    map[string]*calendar{},
		users:        map[string]GoogleUser{},
		codes:        map[string]*authCode{},
		access:       map[string]*accessGrant{},
		refresh:      map[string]*refreshGrant{},
		consents:     map[string]bool{},
		granted:      map[string][]string{},
		calls:        map[string]int{},
		boxes:        map[string]*gmailBox{},
	}
}

// URL is the sandbox's base URL.
func (g *Google) URL() string { return g.base }

// ClientID and ClientSecret are the credentials of its client.
func (g *Google) ClientID() string     { return g.clientID }
func (g *Google) ClientSecret() string { return g.clientSecret }

// AddUser registers a person; without a subject one is made from the
// email. People who consent with an unknown email are registered on the
// spot, with a verified email.
func (g *Google) AddUser(u GoogleUser) GoogleUser {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.addUser(u)
}

func (g *Google) addUser(u GoogleUser) GoogleUser {
	if u.Subject == "" {
		u.Subject = subjectOf(u.Email)
	}
	g.users[strings.ToLower(u.Email)] = u
	return u
}

// subjectOf makes a Google-like subject (21 digits) from an email.
func subjectOf(email string) string {
	h := sha256.Sum256([]byte(strings.ToLower(email)))
	return fmt.Sprintf("1%020d", binary.BigEndian.Uint64(h[:8])%1e18)
}

// RevokeUser revokes every grant of the person with email, as when they
// remove the app's access in their Google account: refreshing answers
// invalid_grant from then on.
func (g *Google) RevokeUser(email string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	u, ok := g.users[strings.ToLower(email)]
	if !ok {
		return
	}
	for _, r := range g.refresh {
		if r.subject == u.Subject {
			r.revoked = true
		}
	}
	g.revokeAccess(u.Subject)
	delete(g.consents, u.Subject)
	delete(g.granted, u.Subject)
}

// RevokeAccessTokens revokes the access tokens issued to the person with
// email while they are still live, and leaves their refresh tokens good:
// the next API call with one answers 401, and a refresh gets a working
// token again, as when Google invalidates access tokens early.
func (g *Google) RevokeAccessTokens(email string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if u, ok := g.users[strings.ToLower(email)]; ok {
		g.revokeAccess(u.Subject)
	}
}

// revokeAccess revokes the access tokens issued to subject; g.mu is held.
func (g *Google) revokeAccess(subject string) {
	for _, a := range g.access {
		if a.subject == subject {
			a.revoked = true
		}
	}
}

// SetDown makes every endpoint answer 503 (down) or work again.
func (g *Google) SetDown(down bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.down = down
}

// OnRefresh sets a function called at each refresh grant before it is
// answered (nil for none), so a test can hold a refresh in flight.
func (g *Google) OnRefresh(f func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.onRefresh = f
}

// Calls returns how many requests each grant type and endpoint got:
// "authorization_code", "refresh_token", "revoke", "userinfo", "gmail" (any
// Gmail method) and "gmail <last path element>" ("gmail messages",
// "gmail history", "gmail profile", "gmail watch", "gmail <message id>"; a
// call in a batch request counts as made on its own, and the batch request
// as "gmail batch"), "people" (any
// People API method) and "people <method>" ("people searchContacts").
func (g *Google) Calls(name string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls[name]
}

// Issued returns every secret the sandbox has handed out: codes, access,
// refresh and ID tokens.
func (g *Google) Issued() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.issued)
}

// UserOf returns the person an access token was issued to, for fakes of
// Google's APIs that accept the sandbox's tokens.
func (g *Google) UserOf(accessToken string) (GoogleUser, bool) {
	u, _, ok := g.grantOf(accessToken)
	return u, ok
}

// grantOf returns the person a live access token was issued to and the
// scopes it was granted.
func (g *Google) grantOf(accessToken string) (GoogleUser, string, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	a, ok := g.access[accessToken]
	if !ok || a.revoked || time.Now().After(a.expires) {
		return GoogleUser{}, "", false
	}
	u, ok := g.userBySubject(a.subject)
	return u, a.scope, ok
}

func (g *Google) userBySubject(sub string) (GoogleUser, bool) {
	for _, u := range g.users {
		if u.Subject == sub {
			return u, true
		}
	}
	return GoogleUser{}, false
}

// Handler serves the sandbox's endpoints, at Google's paths relative to
// the base URL.
func (g *Google) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /o/oauth2/v2/auth", g.authorize)
	mux.HandleFunc("POST /o/oauth2/v2/auth", g.consent)
	mux.HandleFunc("POST /token", g.token)
	mux.HandleFunc("POST /revoke", g.revoke)
	mux.HandleFunc("GET /v1/userinfo", g.userinfo)
	mux.HandleFunc("GET /.well-known/openid-configuration", g.discovery)
	mux.HandleFunc("GET /oauth2/v3/certs", g.certs)
	mux.HandleFunc("GET /gmail/v1/users/{user}/profile", g.gmail("GetProfile", g.gmailProfile))
	mux.HandleFunc("GET /gmail/v1/users/{user}/messages", g.gmail("ListMessages", g.gmailList))
	mux.HandleFunc("GET /gmail/v1/users/{user}/messages/{id}", g.gmail("GetMessage", g.gmailGet))
	mux.HandleFunc("GET /gmail/v1/users/{user}/history", g.gmail("ListHistory", g.gmailHistory))
	mux.HandleFunc("POST /gmail/v1/users/{user}/watch", g.gmail("Watch", g.gmailWatch))
	mux.HandleFunc("POST /gmail/v1/users/{user}/stop", g.gmail("Stop", g.gmailStop))
	mux.HandleFunc("GET /v1/people:searchContacts", g.people(g.peopleSearch))
	mux.HandleFunc("GET /calendar/v3/calendars/{calendar}/events", g.calendarEvents)
	mux.HandleFunc("POST /batch/gmail/v1", g.gmailBatch(mux))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		down := g.down
		g.mu.Unlock()
		if down {
			http.Error(w, "sandbox Google is down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		mux.ServeHTTP(w, r)
	})
}

func (g *Google) newSecret(prefix string) string {
	b := make([]byte, 32)
	rand.Read(b)
	s := prefix + base64.RawURLEncoding.EncodeToString(b)
	g.issued = append(g.issued, s)
	return s
}

// checkAuthRequest validates an authorization request. Errors about the
// client or redirect URI are shown to the person (Google does not redirect
// to an unverified URI); others go back to the client.
func (g *Google) checkAuthRequest(v url.Values) (shown string, back string) {
	if v.Get("client_id") != g.clientID {
		return "Error 401: invalid_client. The OAuth client was not found.", ""
	}
	ru, err := url.Parse(v.Get("redirect_uri"))
	if err != nil || !ru.IsAbs() || ru.Host == "" {
		return "Error 400: redirect_uri_mismatch. The redirect URI is missing or not absolute.", ""
	}
	switch {
	case v.Get("response_type") != "code":
		return "", "unsupported_response_type"
	case v.Get("scope") == "":
		return "", "invalid_scope"
	case v.Get("code_challenge") != "" && v.Get("code_challenge_method") != "S256":
		return "", "invalid_request"
	}
	return "", ""
}

var consentPage = template.Must(template.New("consent").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in - Sandbox Google</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#202124}
.box{border:1px solid #dadce0;border-radius:8px;padding:2rem}label{display:block;margin:.8rem 0 .2rem}
input[type=email],input[type=text]{width:100%;padding:.5rem;box-sizing:border-box}ul{padding-left:1.2rem}
button{margin:1.2rem .5rem 0 0;padding:.5rem 1.2rem}</style></head>
<body><div class="box">
<h1>Sandbox Google</h1>
<p>This is a local stand-in for Google's consent screen. No real Google account is used.</p>
<form method="post" action="">
{{range .Hidden}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">
{{end}}<label for="email">Email</label><input id="email" type="email" name="email" value="{{.Email}}" required>
<label for="name">Name</label><input id="name" type="text" name="name" value="{{.Name}}">
<p>The app asks to:</p><ul>{{range .Basic}}<li>{{.}}</li>{{end}}</ul>
{{if .Optional}}<p>Choose what it may access:</p>
{{range .Optional}}<label><input type="checkbox" name="granted" value="{{.}}" checked> {{.}}</label>
{{end}}{{end}}
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny">Cancel</button>
</form></div></body></html>
`))

type hiddenField struct{ Name, Value string }

// basicScope reports whether sc is one of OpenID Connect's sign-in
// scopes, which granular consent always grants.
func basicScope(sc string) bool {
	switch sc {
	case "openid", "email", "profile", "https://www.googleapis.com/auth/userinfo.email", "https://www.googleapis.com/auth/userinfo.profile":
		return true
	}
	return false
}

// authorize shows the consent page.
func (g *Google) authorize(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	if shown, back := g.checkAuthRequest(v); shown != "" {
		http.Error(w, shown, http.StatusBadRequest)
		return
	} else if back != "" {
		g.redirectError(w, r, v, back)
		return
	}
	data := struct {
		Hidden          []hiddenField
		Email, Name     string
		Basic, Optional []string
	}{Email: "you@example.com", Name: "Sandbox User"}
	for _, sc := range strings.Fields(v.Get("scope")) {
		if basicScope(sc) {
			data.Basic = append(data.Basic, sc)
		} else {
			data.Optional = append(data.Optional, sc)
		}
	}
	for _, k := range []string{"client_id", "redirect_uri", "response_type", "scope", "state", "code_challenge", "code_challenge_method", "access_type", "prompt", "include_granted_scopes", "login_hint"} {
		if v.Has(k) {
			data.Hidden = append(data.Hidden, hiddenField{k, v.Get(k)})
		}
	}
	if hint := v.Get("login_hint"); hint != "" {
		data.Email = hint
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	consentPage.Execute(w, data)
}

func (g *Google) redirectError(w http.ResponseWriter, r *http.Request, v url.Values, code string) {
	ru, _ := url.Parse(v.Get("redirect_uri"))
	q := ru.Query()
	q.Set("error", code)
	if s := v.Get("state"); s != "" {
		q.Set("state", s)
	}
	ru.RawQuery = q.Encode()
	http.Redirect(w, r, ru.String(), http.StatusFound)
}

// consent takes the person's decision and sends the browser back to the
// client with a code or an error.
func (g *Google) consent(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	v := r.PostForm
	if shown, back := g.checkAuthRequest(v); shown != "" {
		http.Error(w, shown, http.StatusBadRequest)
		return
	} else if back != "" {
		g.redirectError(w, r, v, back)
		return
	}
	if v.Get("decision") != "allow" {
		g.redirectError(w, r, v, "access_denied")
		return
	}
	email := strings.TrimSpace(v.Get("email"))
	if at := strings.LastIndexByte(email, '@'); at < 1 || at == len(email)-1 {
		http.Error(w, "Enter an email address.", http.StatusBadRequest)
		return
	}

	g.mu.Lock()
	u, ok := g.users[strings.ToLower(email)]
	if !ok {
		name := strings.TrimSpace(v.Get("name"))
		if name == "" {
			name = email[:strings.IndexByte(email, '@')]
		}
		u = g.addUser(GoogleUser{Email: email, EmailVerified: true, Name: name})
		if g.newMailbox != nil {
			for _, m := range g.newMailbox(u) {
				g.addMessage(u.Email, m)
			}
		}
		if g.newCalendar != nil {
			for _, e := range g.newCalendar(u) {
				g.addEvent(u.Email, e)
			}
		}
	}
	prompts := strings.Fields(v.Get("prompt"))
	offline := v.Get("access_type") == "offline"
	// Granular consent: the sign-in scopes always, the others as ticked;
	// with include_granted_scopes, those granted before as well.
	var scopes []string
	for _, sc := range strings.Fields(v.Get("scope")) {
		if basicScope(sc) || slices.Contains(v["granted"], sc) {
			scopes = append(scopes, sc)
		}
	}
	if v.Get("include_granted_scopes") == "true" {
		for _, sc := range g.granted[u.Subject] {
			if !slices.Contains(scopes, sc) {
				scopes = append(scopes, sc)
			}
		}
	}
	g.granted[u.Subject] = scopes
	c := &authCode{
		clientID:    v.Get("client_id"),
		redirectURI: v.Get("redirect_uri"),
		challenge:   v.Get("code_challenge"),
		scope:       strings.Join(scopes, " "),
		subject:     u.Subject,
		offline:     offline,
		consent:     slices.Contains(prompts, "consent") || !g.consents[u.Subject],
		expires:     time.Now().Add(10 * time.Minute),
	}
	if offline {
		g.consents[u.Subject] = true
	}
	code := g.newSecret("4/0Asbx")
	g.codes[code] = c
	g.mu.Unlock()

	ru, _ := url.Parse(c.redirectURI)
	q := ru.Query()
	q.Set("code", code)
	q.Set("scope", c.scope)
	if s := v.Get("state"); s != "" {
		q.Set("state", s)
	}
	ru.RawQuery = q.Encode()
	http.Redirect(w, r, ru.String(), http.StatusFound)
}

func tokenError(w http.ResponseWriter, status int, code, description string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": description})
}

// token is the token endpoint.
func (g *Google) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		tokenError(w, http.StatusBadRequest, "invalid_request", "Bad Request")
		return
	}
	v := r.PostForm
	id, secret, basic := r.BasicAuth()
	if !basic {
		id, secret = v.Get("client_id"), v.Get("client_secret")
	}
	if id != g.clientID || subtle.ConstantTimeCompare([]byte(secret), []byte(g.clientSecret)) != 1 {
		tokenError(w, http.StatusUnauthorized, "invalid_client", "Unauthorized")
		return
	}
	switch v.Get("grant_type") {
	case "authorization_code":
		g.codeGrant(w, v)
	case "refresh_token":
		g.refreshGrant(w, v)
	default:
		tokenError(w, http.StatusBadRequest, "unsupported_grant_type", "Invalid grant_type: "+v.Get("grant_type"))
	}
}

func (g *Google) codeGrant(w http.ResponseWriter, v url.Values) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls["authorization_code"]++
	c, ok := g.codes[v.Get("code")]
	switch {
	case !ok || c.clientID != g.clientID:
		tokenError(w, http.StatusBadRequest, "invalid_grant", "Malformed auth code.")
		return
	case c.used:
		tokenError(w, http.StatusBadRequest, "invalid_grant", "Bad Request")
		return
	case time.Now().After(c.expires):
		tokenError(w, http.StatusBadRequest, "invalid_grant", "Bad Request")
		return
	case v.Get("redirect_uri") != c.redirectURI:
		tokenError(w, http.StatusBadRequest, "redirect_uri_mismatch", "Bad Request")
		return
	}
	if c.challenge != "" {
		sum := sha256.Sum256([]byte(v.Get("code_verifier")))
		if v.Get("code_verifier") == "" || base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge {
			tokenError(w, http.StatusBadRequest, "invalid_grant", "Invalid code verifier.")
			return
		}
	} else if v.Get("code_verifier") != "" {
		tokenError(w, http.StatusBadRequest, "invalid_grant", "Invalid code verifier.")
		return
	}
	c.used = true
	var refresh string
	if c.offline && c.consent {
		refresh = g.newSecret("1//0sbx")
		g.refresh[refresh] = &refreshGrant{subject: c.subject, scope: c.scope, clientID: c.clientID}
	}
	g.writeTokens(w, c.subject, c.scope, refresh, refresh)
}

// writeTokens issues an access token (and an ID token for openid) and
// answers with them; refresh is included when not empty, and from is the
// refresh token the access token is made with.
func (g *Google) writeTokens(w http.ResponseWriter, subject, scope, refresh, from string) {
	access := g.newSecret("ya29.sbx")
	g.access[access] = &accessGrant{subject: subject, scope: scope, expires: time.Now().Add(g.accessTTL), refresh: from}
	body := map[string]any{
		"access_token": access,
		"expires_in":   int(g.accessTTL/time.Second) - 1,
		"scope":        scope,
		"token_type":   "Bearer",
	}
	if refresh != "" {
		body["refresh_token"] = refresh
	}
	if slices.Contains(strings.Fields(scope), "openid") {
		u, _ := g.userBySubject(subject)
		idt := g.idToken(u, scope)
		g.issued = append(g.issued, idt)
		body["id_token"] = idt
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	json.NewEncoder(w).Encode(body)
}

func (g *Google) refreshGrant(w http.ResponseWriter, v url.Values) {
	g.mu.Lock()
	g.calls["refresh_token"]++
	hook := g.onRefresh
	g.mu.Unlock()
	if hook != nil {
		hook()
	}

	g.mu.Lock()
	defer g.mu.Unlock()
	old := v.Get("refresh_token")
	rg, ok := g.refresh[old]
	switch {
	case !ok || rg.revoked:
		tokenError(w, http.StatusBadRequest, "invalid_grant", "Token has been expired or revoked.")
		return
	case rg.clientID != g.clientID:
		tokenError(w, http.StatusBadRequest, "unauthorized_client", "Unauthorized")
		return
	}
	var rotated string
	from := old
	if g.rotate {
		rg.revoked = true
		rotated = g.newSecret("1//0sbx")
		g.refresh[rotated] = &refreshGrant{subject: rg.subject, scope: rg.scope, clientID: rg.clientID}
		from = rotated
	}
	g.writeTokens(w, rg.subject, rg.scope, rotated, from)
}

// userinfo is OpenID Connect's userinfo endpoint.
func (g *Google) userinfo(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	g.calls["userinfo"]++
	g.mu.Unlock()
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	var a *accessGrant
	if ok {
		g.mu.Lock()
		a = g.access[tok]
		g.mu.Unlock()
	}
	if a == nil || a.revoked || time.Now().After(a.expires) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="https://accounts.google.com/", error="invalid_token"`)
		tokenError(w, http.StatusUnauthorized, "invalid_request", "Invalid Credentials")
		return
	}
	g.mu.Lock()
	u, _ := g.userBySubject(a.subject)
	g.mu.Unlock()
	scopes := strings.Fields(a.scope)
	body := map[string]any{"sub": u.Subject}
	if slices.Contains(scopes, "email") {
		body["email"], body["email_verified"] = u.Email, u.EmailVerified
	}
	if slices.Contains(scopes, "profile") {
		body["name"] = u.Name
		if u.Picture != "" {
			body["picture"] = u.Picture
		}
		given, family, _ := strings.Cut(u.Name, " ")
		body["given_name"] = given
		if family != "" {
			body["family_name"] = family
		}
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	json.NewEncoder(w).Encode(body)
}

func (g *Google) discovery(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	json.NewEncoder(w).Encode(map[string]any{
		"issuer":                                g.base,
		"authorization_endpoint":                g.base + "/o/oauth2/v2/auth",
		"token_endpoint":                        g.base + "/token",
		"userinfo_endpoint":                     g.base + "/v1/userinfo",
		"revocation_endpoint":                   g.base + "/revoke",
		"jwks_uri":                              g.base + "/oauth2/v3/certs",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"scopes_supported":                      []string{"openid", "email", "profile"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "client_secret_basic"},
		"code_challenge_methods_supported":      []string{"S256"},
		"grant_types_supported":                 []string{"authorization_code", "refresh_token"},
	})
}

// signingKey is one RSA key for every sandbox in the process: making one
// takes a noticeable moment.
var signingKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

const signingKeyID = "sandbox-1"

func (g *Google) certs(w http.ResponseWriter, r *http.Request) {
	pub := signingKey().PublicKey
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "alg": "RS256", "use": "sig", "kid": signingKeyID,
		"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}}})
}

// idToken signs an OpenID Connect ID token for u (RS256).
func (g *Google) idToken(u GoogleUser, scope string) string {
	now := time.Now()
	claims := map[string]any{
		"iss": g.base, "aud": g.clientID, "azp": g.clientID, "sub": u.Subject,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
	scopes := strings.Fields(scope)
	if slices.Contains(scopes, "email") {
		claims["email"], claims["email_verified"] = u.Email, u.EmailVerified
	}
	if slices.Contains(scopes, "profile") {
		claims["name"] = u.Name
	}
	return signJWT(signingKey(), claims)
}

// signJWT signs claims with key (RS256) under the sandbox's key id.
func signJWT(key *rsa.PrivateKey, claims map[string]any) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signed := enc(map[string]string{"alg": "RS256", "kid": signingKeyID, "typ": "JWT"}) + "." + enc(claims)
	sum := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		panic(err)
	}
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig)
}
