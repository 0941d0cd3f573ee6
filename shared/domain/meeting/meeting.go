// Package meeting turns the events of a person's Google Calendar into
// meetings: interactions with the contacts they were held with, counted
// with the emails exchanged with them. It stores the synced events, keeps
// each account's calendar sync state, decides who an event is a meeting
// with, and enqueues calendar syncs.
package meeting

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/db"
)

// Event is a calendar event as Google gives it: one occurrence of a
// recurring event (GoogleID is the instance's id).
type Event struct {
	GoogleID string
	// RecurringID is the id of the recurring event the occurrence is
	// of; empty for a single event.
	RecurringID     string
	Title, Location string
	// Status is Google's: confirmed, tentative or cancelled.
	Status     string
	Start, End time.Time
	// AllDay is an event of whole days (Google's start.date).
	AllDay bool
	// Organizer is the organizer's address.
	Organizer string
	Updated   time.Time
	Attendees []Attendee
}

// Attendee is one of an event's guests, as Google lists them.
type Attendee struct {
	Email, Name string
	// Response is Google's responseStatus: needsAction, declined,
	// tentative or accepted.
	Response            string
	Organizer, Optional bool
	// Self is the calendar's owner: the user.
	Self bool
	// Resource is a room or other resource.
	Resource bool
}

// Responses of attendees, Google's names.
const (
	Accepted    = "accepted"
	Declined    = "declined"
	Tentative   = "tentative"
	NeedsAction = "needsAction"
)

// Roles of a meeting's contacts.
const (
	RoleOrganizer = "organizer"
	RoleRequired  = "required"
	RoleOptional  = "optional"
)

// MaxAttendees bounds the people one event makes contacts of, as
// email.MaxParticipants does for one email: anyone can invite the user to
// an event with thousands of guests.
const MaxAttendees = 50

// Policy decides whose addresses make contacts; email.Policy is one.
type Policy interface {
	Ignored(addr string) bool
}

// Contacts makes addresses contacts and keeps their interaction figures;
// contact.Service is one.
type Contacts interface {
	Ensure(ctx context.Context, q db.Querier, userID uuid.UUID, emails, names []string) (map[string]uuid.UUID, error)
	Recount(ctx context.Context, q db.Querier, userID uuid.UUID, ids []uuid.UUID) (int, error)
	Changed(ctx context.Context, userID uuid.UUID)
}

// Guest is someone a meeting was held with.
type Guest struct {
	Email    string `json:"email"`
	Name     string `json:"name,omitempty"`
	Response string `json:"response"`
	Role     string `json:"role"`
}

// Guests returns who event is a meeting with, under policy: each
// attendee once, except the user (an attendee marked self, or one of own,
// the user's addresses, "+tag" or not), rooms and other resources,
// attendees who declined, and the addresses policy ignores; the first
// MaxAttendees of those, in Google's order, sorted by address. An event
// that is cancelled, or that the user declined, is a meeting with nobody.
func Guests(e Event, own []string, policy Policy) []Guest {
	if e.Status == "cancelled" {
		return nil
	}
	self := map[string]bool{}
	for _, a := range own {
		a = strings.ToLower(strings.TrimSpace(a))
		self[a], self[canonical(a)] = true, true
	}
	isSelf := func(a Attendee, addr string) bool { return a.Self || self[addr] || self[canonical(addr)] }
	for _, a := range e.Attendees {
		if isSelf(a, strings.ToLower(strings.TrimSpace(a.Email))) && a.Response == Declined {
			return nil
		}
	}
	var out []Guest
	seen := map[string]bool{}
	for _, a := range e.Attendees {
		addr := strings.ToLower(strings.TrimSpace(a.Email))
		if addr == "" || seen[addr] || a.Resource || resourceAddress(addr) || a.Response == Declined ||
			isSelf(a, addr) || policy.Ignored(addr) {
			continue
		}
		if len(out) == MaxAttendees {
			break
		}
		seen[addr] = true
		g := Guest{Email: addr, Name: strings.TrimSpace(a.Name), Response: a.Response, Role: RoleRequired}
		switch {
		case a.Organizer || addr == strings.ToLower(e.Organizer):
			g.Role = RoleOrganizer
		case a.Optional:
			g.Role = RoleOptional
		}
		if g.Response != Accepted && g.Response != Tentative {
			g.Response = NeedsAction
		}
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b Guest) int { return strings.Compare(a.Email, b.Email) })
	return out
}

// resourceAddress reports whether addr is a Google Workspace resource
// calendar (a room, equipment): those live under
// resource.calendar.google.com.
func resourceAddress(addr string) bool {
	return strings.HasSuffix(addr, "@resource.calendar.google.com") || strings.HasSuffix(addr, ".resource.calendar.google.com")
}

// canonical drops a "+tag" from the local part, as mail extraction does.
func canonical(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return addr
	}
	local, domain := addr[:at], addr[at:]
	if i := strings.IndexByte(local, '+'); i > 0 {
		local = local[:i]
	}
	return local + domain
}
