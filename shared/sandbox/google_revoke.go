package sandbox

import (
	"net/http"
	"strings"
	"time"
)

// revoke is Google's revocation endpoint (https://oauth2.googleapis.com/revoke):
// a POST of the token, in the form or the query. As with Google, a refresh
// token or an access token ends the person's whole grant to the client:
// every refresh and access token of it stops working, and their next
// sign-in asks for consent again (and so gives a refresh token). It answers
// 200 with an empty JSON object; a token that is unknown, revoked or
// expired 400 invalid_token; no token 400 invalid_request.
func (g *Google) revoke(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	tok := r.Form.Get("token")
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls["revoke"]++
	if tok == "" {
		tokenError(w, http.StatusBadRequest, "invalid_request", "Bad Request")
		return
	}
	var subject string
	if a, ok := g.access[tok]; ok && !a.revoked && time.Now().Before(a.expires) {
		subject = a.subject
	} else if rg, ok := g.refresh[tok]; ok && !rg.revoked && rg.clientID == g.clientID {
		subject = rg.subject
	} else {
		tokenError(w, http.StatusBadRequest, "invalid_token", "Token expired or revoked")
		return
	}
	g.endGrant(subject)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Write([]byte("{}\n"))
}

// endGrant revokes every token of subject's grant to the client and
// forgets their consent. The caller holds g.mu.
func (g *Google) endGrant(subject string) {
	for _, rg := range g.refresh {
		if rg.subject == subject && rg.clientID == g.clientID {
			rg.revoked = true
		}
	}
	for _, a := range g.access {
		if a.subject == subject {
			a.revoked = true
		}
	}
	delete(g.consents, subject)
}

// HasGrant reports whether the person with email has a grant to the
// client: a consent, or a refresh token that still works.
func (g *Google) HasGrant(email string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	u, ok := g.users[strings.ToLower(email)]
	if !ok {
		return false
	}
	if g.consents[u.Subject] {
		return true
	}
	for _, rg := range g.refresh {
		if rg.subject == u.Subject && !rg.revoked {
			return true
		}
	}
	return false
}
