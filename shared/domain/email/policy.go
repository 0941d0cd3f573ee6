package email

import (
	"path"
	"strings"
)

// DefaultIgnore are the patterns of automated senders: addresses nobody
// reads, whose mail makes no one a contact. Patterns are path.Match globs
// over the lower-cased address.
var DefaultIgnore = []string{
	"noreply@*", "no-reply@*", "no_reply@*", "noreply-*@*", "noreply+*@*", "no-reply-*@*", "no-reply+*@*",
	"donotreply@*", "do-not-reply@*", "do_not_reply@*", "dontreply@*",
	"mailer-daemon@*", "postmaster@*", "bounce@*", "bounces@*", "bounce-*@*", "bounces-*@*", "bounces+*@*",
	"notification@*", "notifications@*", "notify@*", "alerts@*", "automated@*", "auto-reply@*", "autoreply@*",
	"*@noreply.*", "*@no-reply.*", "*@bounce.*", "*@bounces.*",
}

// Policy decides whose addresses make contacts.
type Policy struct {
	// Ignore are address patterns (path.Match globs over the lower-cased
	// address) that never make a contact. Empty means DefaultIgnore.
	Ignore []string
	// KeepAutomatedMail keeps the senders of mail marked as sent by a
	// machine (Auto-Submitted other than "no"; Precedence bulk, junk or
	// list), which are otherwise skipped. The recipients of bulk and list
	// mail (ListMail) are skipped either way.
	KeepAutomatedMail bool
}

// WithIgnore returns the default policy with extra patterns, such as the
// deployment's EXTRACT_IGNORE.
func WithIgnore(extra ...string) Policy {
	ignore := append([]string(nil), DefaultIgnore...)
	for _, p := range extra {
		if p = strings.ToLower(strings.TrimSpace(p)); p != "" {
			ignore = append(ignore, p)
		}
	}
	return Policy{Ignore: ignore}
}

// Ignored reports whether the address addr (lower-cased) never makes a
// contact.
func (p Policy) Ignored(addr string) bool {
	ignore := p.Ignore
	if len(ignore) == 0 {
		ignore = DefaultIgnore
	}
	for _, pat := range ignore {
		// A pattern matches only addresses that start with its literal
		// prefix: most patterns are ruled out without matching.
		lit := pat
		if i := strings.IndexAny(pat, `*?[\`); i >= 0 {
			lit = pat[:i]
		}
		if !strings.HasPrefix(addr, lit) || !hasPieces(pat, addr) {
			continue
		}
		if ok, _ := path.Match(pat, addr); ok {
			return true
		}
	}
	return false
}

// Automated reports whether headers (by lower-case name) mark a message
// as sent by a machine, per RFC 3834's Auto-Submitted and the common
// Precedence header.
func Automated(headers map[string]string) bool {
	v, _, _ := strings.Cut(headers["auto-submitted"], ";")
	if v = strings.ToLower(strings.TrimSpace(v)); v != "" && v != "no" {
		return true
	}
	switch strings.ToLower(strings.TrimSpace(headers["precedence"])) {
	case "bulk", "junk", "list":
		return true
	}
	return false
}

// ListMail reports whether headers (by lower-case name) mark a message as
// bulk or mailing-list mail: a List-Id (RFC 2919) or List-Unsubscribe
// (RFC 2369) header, or Precedence bulk, junk or list. Its recipients are
// a list's or a campaign's, not people the user exchanged mail with, and
// anyone can send such mail to the user.
func ListMail(headers map[string]string) bool {
	if strings.TrimSpace(headers["list-id"]) != "" || strings.TrimSpace(headers["list-unsubscribe"]) != "" {
		return true
	}
	switch strings.ToLower(strings.TrimSpace(headers["precedence"])) {
	case "bulk", "junk", "list":
		return true
	}
	return false
}

// hasPieces reports whether addr contains each literal piece of pat
// between its * and ? wildcards, as it must to match; a pattern with
// classes or escapes is left to path.Match.
func hasPieces(pat, addr string) bool {
	if strings.ContainsAny(pat, `[\`) {
		return true
	}
	for piece := range strings.FieldsFuncSeq(pat, func(r rune) bool { return r == '*' || r == '?' }) {
		if !strings.Contains(addr, piece) {
			return false
		}
	}
	return true
}
