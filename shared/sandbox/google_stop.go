package sandbox

import (
	"net/http"
	"time"
)

// gmailStop is users.stop: Gmail stops publishing the mailbox's changes,
// whatever watches it had (none is no error), and answers 204 with no
// body, as Gmail does.
func (g *Google) gmailStop(w http.ResponseWriter, r *http.Request, u GoogleUser, b *gmailBox) {
	now := time.Now()
	for i := range b.watches {
		if b.watches[i].Expiration.After(now) {
			b.watches[i].Expiration = now
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// Watched reports whether the mailbox of email has a watch that has
// neither expired nor been stopped: whether Gmail publishes its changes.
func (g *Google) Watched(email string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	for _, w := range g.mailbox(email).watches {
		if w.Expiration.After(now) {
			return true
		}
	}
	return false
}
