package sandbox

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// calendarScopes are the scopes that let a token list a calendar's
// events (read access or more).
var calendarScopes = []string{"https://www.googleapis.com/auth/calendar.readonly", "https://www.googleapis.com/auth/calendar",
	"https://www.googleapis.com/auth/calendar.events.readonly", "https://www.googleapis.com/auth/calendar.events"}

// CalendarEvent is an event of a sandbox person's primary calendar.
type CalendarEvent struct {
	// ID is set by AddEvent when empty.
	ID                string
	Summary, Location string
	// Status is confirmed (the default), tentative or cancelled.
	Status     string
	Start, End time.Time
	// AllDay makes the event span the whole days of Start to End (End
	// exclusive), as Google's start.date and end.date.
	AllDay bool
	// Organizer is the organizer's address; empty is the calendar's
	// owner.
	Organizer string
	Attendees []CalendarAttendee
	// Weekly, when positive, makes the event recur weekly that many
	// times (RRULE:FREQ=WEEKLY;COUNT=n), from Start.
	Weekly int

	created, updated time.Time
	// changed is the calendar's change sequence when the event last
	// changed: what a sync token compares.
	changed uint64
}

// CalendarAttendee is a guest of a sandbox event, as Google lists it.
type CalendarAttendee struct {
	Email, DisplayName string
	// ResponseStatus is needsAction (the default), declined, tentative
	// or accepted.
	ResponseStatus                string
	Organizer, Optional, Resource bool
}

// calendar is one person's primary calendar.
type calendar struct {
	events []*CalendarEvent
	byID   map[string]*CalendarEvent
	seq    uint64
	// oldest is the change sequence before which sync tokens are gone:
	// they answer 410, as Google does when it drops a token.
	oldest uint64
}

func (g *Google) calendar(email string) *calendar {
	key := strings.ToLower(email)
	c, ok := g.calendars[key]
	if !ok {
		c = &calendar{byID: map[string]*CalendarEvent{}, seq: 100}
		g.calendars[key] = c
	}
	return c
}

// AddEvent adds e to the primary calendar of email and returns its id.
func (g *Google) AddEvent(email string, e CalendarEvent) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.addEvent(email, e)
}

func (g *Google) addEvent(email string, e CalendarEvent) string {
	c := g.calendar(email)
	c.seq++
	if e.ID == "" {
		e.ID = fmt.Sprintf("sbx%013x", c.seq)
	}
	if e.Status == "" {
		e.Status = "confirmed"
	}
	e.created, e.updated, e.changed = time.Now().UTC(), time.Now().UTC(), c.seq
	if old, ok := c.byID[e.ID]; ok {
		*old = e
		return e.ID
	}
	c.events = append(c.events, &e)
	c.byID[e.ID] = &e
	return e.ID
}

// ChangeEvent changes the event id of the calendar of email with f, as
// an edit in Google Calendar does; it reports whether the event exists.
func (g *Google) ChangeEvent(email, id string, f func(*CalendarEvent)) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	c := g.calendar(email)
	e, ok := c.byID[id]
	if !ok {
		return false
	}
	f(e)
	c.seq++
	e.updated, e.changed = time.Now().UTC(), c.seq
	return true
}

// CancelEvent cancels (deletes) the event id of the calendar of email.
func (g *Google) CancelEvent(email, id string) bool {
	return g.ChangeEvent(email, id, func(e *CalendarEvent) { e.Status = "cancelled" })
}

// ExpireCalendarSync drops the sync tokens of the calendar of email: an
// incremental list with one answers 410 Gone, and the client must sync in
// full again.
func (g *Google) ExpireCalendarSync(email string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	c := g.calendar(email)
	c.seq++
	c.oldest = c.seq
}

// FailCalendar makes the Calendar API answer status to every request (0:
// work again), as FailGmail does.
func (g *Google) FailCalendar(status int) { g.FailCalendarWith(googleFailureOf(status)) }

// FailCalendarWith makes the Calendar API answer f (a zero f: work
// again).
func (g *Google) FailCalendarWith(f GoogleFailure) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calendarFail = newFailure(f)
}

// calendarEvents serves events.list of the Calendar API v3 for the
// calendar "primary" or the person's address: pageToken, maxResults,
// syncToken (410 once expired), singleEvents (recurring events as their
// occurrences), timeMin, timeMax and showDeleted, with nextPageToken on
// every page but the last, which has nextSyncToken.
func (g *Google) calendarEvents(w http.ResponseWriter, r *http.Request) {
	u, ok := g.apiCall(w, r, apiMethod{service: "calendar-json.googleapis.com", short: "calendar", method: "events.list",
		rpc: "calendar.v3.Events.List", scopes: calendarScopes, fail: &g.calendarFail})
	if !ok {
		return
	}
	if id := r.PathValue("calendar"); id != "primary" && !strings.EqualFold(id, u.Email) {
		gmailError(w, http.StatusNotFound, "Not Found", "notFound")
		return
	}
	q := r.URL.Query()
	single := q.Get("singleEvents") == "true"
	showDeleted := q.Get("showDeleted") == "true"
	max := 250
	if v := q.Get("maxResults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			gmailError(w, http.StatusBadRequest, "Invalid value for: "+v, "invalid")
			return
		}
		max = min(n, 2500)
	}
	var tmin, tmax time.Time
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{"timeMin", &tmin}, {"timeMax", &tmax}} {
		if v := q.Get(p.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				gmailError(w, http.StatusBadRequest, "Bad Request", "badRequest")
				return
			}
			*p.t = t
		}
	}
	syncToken := q.Get("syncToken")
	if syncToken != "" && (!tmin.IsZero() || !tmax.IsZero() || q.Get("orderBy") != "" || q.Get("q") != "") {
		gmailError(w, http.StatusBadRequest, "Sync token cannot be used with other request restrictions.", "invalid")
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	c := g.calendar(u.Email)
	// A page token carries the offset and the snapshot of the listing.
	offset, snapshot := 0, c.seq
	if pt := q.Get("pageToken"); pt != "" {
		b, err := base64.RawURLEncoding.DecodeString(pt)
		var o int
		var s uint64
		if err == nil {
			_, err = fmt.Sscanf(string(b), "%d:%d", &o, &s)
		}
		if err != nil || o < 0 {
			gmailError(w, http.StatusBadRequest, "Invalid page token value.", "invalid")
			return
		}
		offset, snapshot = o, s
	}
	var since uint64
	if syncToken != "" {
		s, err := strconv.ParseUint(strings.TrimPrefix(syncToken, "sbxsync"), 10, 64)
		if err != nil || !strings.HasPrefix(syncToken, "sbxsync") {
			gmailError(w, http.StatusBadRequest, "Invalid sync token value.", "invalid")
			return
		}
		if s < c.oldest {
			msg := "Sync token is no longer valid, a full sync is required."
			gmailError(w, http.StatusGone, msg, "fullSyncRequired")
			return
		}
		since, showDeleted = s, true
	}
	var items []map[string]any
	for _, e := range c.events {
		if e.changed > snapshot || (syncToken != "" && e.changed <= since) {
			continue
		}
		if e.Status == "cancelled" && !showDeleted {
			continue
		}
		for _, it := range calendarItems(e, u, single, syncToken != "") {
			if syncToken == "" && !overlaps(it.start, it.end, tmin, tmax) {
				continue
			}
			items = append(items, it.body)
		}
	}
	slices.SortStableFunc(items, func(a, b map[string]any) int {
		return strings.Compare(a["id"].(string), b["id"].(string))
	})
	body := map[string]any{
		"kind": "calendar#events", "etag": fmt.Sprintf(`"%d"`, snapshot), "summary": u.Email, "description": "",
		"updated": time.Now().UTC().Format(time.RFC3339Nano), "timeZone": "UTC", "accessRole": "owner",
		"defaultReminders": []any{},
	}
	end := min(offset+max, len(items))
	if offset > len(items) {
		offset = len(items)
	}
	body["items"] = append([]map[string]any{}, items[offset:end]...)
	if end < len(items) {
		body["nextPageToken"] = base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%d:%d", end, snapshot))
	} else {
		body["nextSyncToken"] = "sbxsync" + strconv.FormatUint(snapshot, 10)
	}
	writeGmail(w, body)
}

type calendarItem struct {
	start, end time.Time
	body       map[string]any
}

func overlaps(start, end, tmin, tmax time.Time) bool {
	return (tmin.IsZero() || end.After(tmin)) && (tmax.IsZero() || start.Before(tmax))
}

// calendarItems are the items an event lists as: itself, or with single
// its occurrences. A cancelled event listed by a sync is only its id and
// status, as Google lists a deleted event.
func calendarItems(e *CalendarEvent, u GoogleUser, single, sync bool) []calendarItem {
	if e.Weekly <= 0 || !single {
		it := calendarItem{start: e.Start, end: e.End, body: eventBody(e, u, e.ID, e.Start, e.End)}
		if e.Weekly > 0 {
			it.body["recurrence"] = []string{fmt.Sprintf("RRULE:FREQ=WEEKLY;COUNT=%d", e.Weekly)}
			it.end = e.End.AddDate(0, 0, 7*(e.Weekly-1))
		}
		return []calendarItem{it}
	}
	var out []calendarItem
	for i := range e.Weekly {
		s, f := e.Start.AddDate(0, 0, 7*i), e.End.AddDate(0, 0, 7*i)
		id := e.ID + "_" + s.UTC().Format("20060102T150405Z")
		if e.AllDay {
			id = e.ID + "_" + s.UTC().Format("20060102")
		}
		b := eventBody(e, u, id, s, f)
		b["recurringEventId"] = e.ID
		b["originalStartTime"] = eventTime(s, e.AllDay)
		out = append(out, calendarItem{start: s, end: f, body: b})
	}
	return out
}

func eventTime(t time.Time, allDay bool) map[string]any {
	if allDay {
		return map[string]any{"date": t.UTC().Format(time.DateOnly)}
	}
	return map[string]any{"dateTime": t.UTC().Format(time.RFC3339), "timeZone": "UTC"}
}

func eventBody(e *CalendarEvent, u GoogleUser, id string, start, end time.Time) map[string]any {
	if e.Status == "cancelled" {
		return map[string]any{"kind": "calendar#event", "etag": fmt.Sprintf(`"%d"`, e.changed), "id": id, "status": "cancelled"}
	}
	organizer := e.Organizer
	if organizer == "" {
		organizer = u.Email
	}
	b := map[string]any{
		"kind": "calendar#event", "etag": fmt.Sprintf(`"%d"`, e.changed), "id": id, "status": e.Status,
		"htmlLink": "https://www.google.com/calendar/event?eid=" + base64.RawURLEncoding.EncodeToString([]byte(id+" "+u.Email)),
		"created":  e.created.Format(time.RFC3339Nano), "updated": e.updated.Format(time.RFC3339Nano),
		"summary": e.Summary, "creator": map[string]any{"email": organizer},
		"organizer": map[string]any{"email": organizer, "self": strings.EqualFold(organizer, u.Email)},
		"start":     eventTime(start, e.AllDay), "end": eventTime(end, e.AllDay),
		"iCalUID": e.ID + "@google.com", "sequence": 0, "eventType": "default",
	}
	if e.Location != "" {
		b["location"] = e.Location
	}
	if len(e.Attendees) > 0 {
		var as []map[string]any
		for _, a := range e.Attendees {
			m := map[string]any{"email": a.Email, "responseStatus": a.ResponseStatus}
			if a.ResponseStatus == "" {
				m["responseStatus"] = "needsAction"
			}
			if a.DisplayName != "" {
				m["displayName"] = a.DisplayName
			}
			if strings.EqualFold(a.Email, u.Email) {
				m["self"] = true
			}
			for k, v := range map[string]bool{"organizer": a.Organizer, "optional": a.Optional, "resource": a.Resource} {
				if v {
					m[k] = true
				}
			}
			as = append(as, m)
		}
		b["attendees"] = as
	}
	return b
}
