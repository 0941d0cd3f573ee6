package sandbox_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/personalcrm/core/shared/google"
	"github.com/personalcrm/core/shared/sandbox"
	"github.com/personalcrm/core/shared/testkit"
)

// TestSandboxCalendar: events.list answers in Google's shapes: pages, a
// sync token on the last, occurrences with singleEvents, what changed
// since a token (deleted events as their id and status), 410 once the
// token is dropped, and 403 for a token without the calendar's scope.
func TestSandboxCalendar(t *testing.T) {
	t.Parallel()
	pool := testkit.DB(t)
	ctx := context.Background()
	kit := testkit.StartGoogleKit(t, pool, sandbox.GoogleOptions{})
	addr := "cal@mine.example"
	user, _, account := kit.Account(t, pool, addr)
	tok, err := kit.Tokens.Token(ctx, user, account)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	weekly := kit.Sandbox.AddEvent(addr, sandbox.CalendarEvent{Summary: "Weekly", Start: start, End: start.Add(time.Hour), Weekly: 3,
		Attendees: []sandbox.CalendarAttendee{{Email: addr, ResponseStatus: "accepted"}, {Email: "grace@example.com", DisplayName: "Grace", ResponseStatus: "accepted"}}})
	kit.Sandbox.AddEvent(addr, sandbox.CalendarEvent{Summary: "Day off", Start: start.Truncate(24 * time.Hour), End: start.Truncate(24 * time.Hour).Add(24 * time.Hour), AllDay: true})

	type list struct {
		Kind          string `json:"kind"`
		NextPageToken string `json:"nextPageToken"`
		NextSyncToken string `json:"nextSyncToken"`
		Items         []struct {
			ID               string `json:"id"`
			Status           string `json:"status"`
			RecurringEventID string `json:"recurringEventId"`
			Start            struct {
				DateTime string `json:"dateTime"`
				Date     string `json:"date"`
			} `json:"start"`
			Attendees []struct {
				Email string `json:"email"`
				Self  bool   `json:"self"`
			} `json:"attendees"`
			Recurrence []string `json:"recurrence"`
		} `json:"items"`
	}
	call := func(token string, q url.Values) (int, list, googleErr) {
		t.Helper()
		req, _ := http.NewRequest("GET", kit.Sandbox.URL()+"/calendar/v3/calendars/primary/events?"+q.Encode(), nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var l list
		var e googleErr
		if res.StatusCode == http.StatusOK {
			json.NewDecoder(res.Body).Decode(&l)
		} else {
			json.NewDecoder(res.Body).Decode(&e)
		}
		return res.StatusCode, l, e
	}

	// Occurrences, two a page; the last page has the sync token.
	status, page1, _ := call(tok.AccessToken, url.Values{"singleEvents": {"true"}, "maxResults": {"2"}})
	if status != http.StatusOK || page1.Kind != "calendar#events" || len(page1.Items) != 2 || page1.NextPageToken == "" || page1.NextSyncToken != "" {
		t.Fatalf("page 1: %d %+v", status, page1)
	}
	_, page2, _ := call(tok.AccessToken, url.Values{"singleEvents": {"true"}, "maxResults": {"2"}, "pageToken": {page1.NextPageToken}})
	if len(page2.Items) != 2 || page2.NextPageToken != "" || page2.NextSyncToken == "" {
		t.Fatalf("page 2: %+v", page2)
	}
	occurrences := 0
	for _, it := range append(page1.Items, page2.Items...) {
		if it.RecurringEventID == weekly {
			occurrences++
			if it.Start.DateTime == "" || len(it.Attendees) != 2 || !it.Attendees[0].Self {
				t.Errorf("occurrence %+v", it)
			}
		} else if it.Start.Date != "2026-03-02" {
			t.Errorf("all-day event %+v", it)
		}
	}
	if occurrences != 3 {
		t.Errorf("%d occurrences", occurrences)
	}
	// Without singleEvents, the recurring event itself.
	if _, l, _ := call(tok.AccessToken, url.Values{}); len(l.Items) != 2 || len(l.Items[0].Recurrence)+len(l.Items[1].Recurrence) != 1 {
		t.Errorf("without singleEvents: %+v", l)
	}

	// What changed since: the cancelled series, occurrence by occurrence.
	kit.Sandbox.CancelEvent(addr, weekly)
	_, changes, _ := call(tok.AccessToken, url.Values{"singleEvents": {"true"}, "syncToken": {page2.NextSyncToken}})
	if len(changes.Items) != 3 || changes.Items[0].Status != "cancelled" || changes.NextSyncToken == "" {
		t.Fatalf("changes: %+v", changes)
	}
	if status, _, e := call(tok.AccessToken, url.Values{"syncToken": {changes.NextSyncToken}, "timeMin": {"2026-01-01T00:00:00Z"}}); status != http.StatusBadRequest {
		t.Errorf("a sync token with timeMin: %d %+v", status, e)
	}
	kit.Sandbox.ExpireCalendarSync(addr)
	if status, _, e := call(tok.AccessToken, url.Values{"syncToken": {changes.NextSyncToken}}); status != http.StatusGone ||
		len(e.Error.Errors) != 1 || e.Error.Errors[0].Reason != "fullSyncRequired" {
		t.Errorf("expired token: %d %+v", status, e)
	}

	// Calendar unticked at the consent page.
	other, _, otherAccount := kit.Account(t, pool, "nocal@mine.example", google.ScopeCalendarReadonly)
	otherTok, err := kit.Tokens.Token(ctx, other, otherAccount)
	if err != nil {
		t.Fatal(err)
	}
	status, _, e := call(otherTok.AccessToken, url.Values{})
	if status != http.StatusForbidden || len(e.Error.Details) != 1 || e.Error.Details[0].Reason != "ACCESS_TOKEN_SCOPE_INSUFFICIENT" || e.Error.Status != "PERMISSION_DENIED" {
		t.Errorf("without the scope: %d %+v", status, e)
	}
}
