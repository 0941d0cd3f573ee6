package calendarsync_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/personalcrm/core/functions/jobs/calendarsync"
	"github.com/personalcrm/core/shared/sandbox"
)

// Sizes of the benchmark's calendar.
const (
	benchEvents    = 1000
	benchPeople    = 200
	benchPerEvent  = 3
	benchPageLimit = 250
)

// benchGuests are the guests of the i-th event.
func benchGuests(i int) []int {
	return []int{i % benchPeople, (i*7 + 3) % benchPeople, (i*13 + 5) % benchPeople}
}

func benchStart(i int) time.Time {
	return time.Now().Truncate(time.Hour).Add(-time.Duration(i%300+1)*24*time.Hour - time.Duration(i%8)*time.Hour)
}

// BenchmarkCalendarSync syncs 1,000 past events with 200 distinct
// attendees from the sandbox Calendar, through the Calendar client, into
// meetings and interaction figures (a full sync, 250 events a page), and
// as a baseline writes the same rows (events, contacts, links) with one
// pgx CopyFrom per table. Both report events/s; the sync reports its
// share of the baseline's rate as x-copyfrom.
func BenchmarkCalendarSync(b *testing.B) {
	f := newFixture(b, calendarsync.Options{PageSize: benchPageLimit})
	for i := range benchEvents {
		as := []sandbox.CalendarAttendee{{Email: f.addr, ResponseStatus: "accepted", Organizer: true}}
		for _, p := range benchGuests(i) {
			as = append(as, sandbox.CalendarAttendee{Email: fmt.Sprintf("person%03d@example.com", p), DisplayName: fmt.Sprintf("Person %d", p), ResponseStatus: "accepted"})
		}
		s := benchStart(i)
		f.kit.Sandbox.AddEvent(f.addr, sandbox.CalendarEvent{Summary: fmt.Sprintf("Meeting %d", i), Start: s, End: s.Add(30 * time.Minute), Attendees: as})
	}
	ctx := context.Background()
	reset := func(b *testing.B) {
		b.Helper()
		for _, sql := range []string{`delete from calendar_events where user_id = $1`, `delete from calendar_sync_state where user_id = $1`,
			`delete from contacts where user_id = $1`, `delete from jobs where user_id = $1`} {
			if _, err := f.pool.Exec(ctx, sql, f.user); err != nil {
				b.Fatal(err)
			}
		}
	}
	check := func(b *testing.B) {
		b.Helper()
		var links, contacts, total int
		if err := f.pool.QueryRow(ctx, `select (select count(*) from event_contacts where user_id = $1), (select count(*) from contacts where user_id = $1),
			(select coalesce(sum(interaction_count), 0) from contacts where user_id = $1)`, f.user).Scan(&links, &contacts, &total); err != nil {
			b.Fatal(err)
		}
		if contacts != benchPeople || links != total || links < benchEvents {
			b.Fatalf("%d contacts, %d links, %d interactions", contacts, links, total)
		}
	}

	copyRate := func(b *testing.B, n int) float64 {
		b.Helper()
		var spent time.Duration
		for range n {
			reset(b)
			start := time.Now()
			if err := copyRows(ctx, f); err != nil {
				b.Fatal(err)
			}
			spent += time.Since(start)
		}
		check(b)
		return float64(n*benchEvents) / spent.Seconds()
	}

	b.Run("sync", func(b *testing.B) {
		base := copyRate(b, 3)
		var spent time.Duration
		for range b.N {
			b.StopTimer()
			reset(b)
			b.StartTimer()
			start := time.Now()
			f.syncOK(b, true)
			spent += time.Since(start)
		}
		b.StopTimer()
		check(b)
		rate := float64(b.N*benchEvents) / spent.Seconds()
		b.ReportMetric(rate, "events/s")
		b.ReportMetric(rate/base, "x-copyfrom")
		// make bench's line.
		fmt.Printf("calendar_events_per_s %.0f events/s ratio=%.2f baseline=copyfrom_%.0f_events_per_s\n", rate, rate/base, base)
	})
	b.Run("copyfrom", func(b *testing.B) {
		var spent time.Duration
		for range b.N {
			b.StopTimer()
			reset(b)
			b.StartTimer()
			start := time.Now()
			if err := copyRows(ctx, f); err != nil {
				b.Fatal(err)
			}
			spent += time.Since(start)
		}
		b.StopTimer()
		check(b)
		b.ReportMetric(float64(b.N*benchEvents)/spent.Seconds(), "events/s")
	})
}

// copyRows writes what the sync writes for the benchmark's calendar with
// one CopyFrom per table, in a transaction: the events with their guests,
// the contacts with their figures, and the links.
func copyRows(ctx context.Context, f *fixture) error {
	tx, err := f.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	now := time.Now()
	contacts := make([]uuid.UUID, benchPeople)
	counts := make([]int, benchPeople)
	last := make([]time.Time, benchPeople)
	var events, links [][]any
	for i := range benchEvents {
		id := uuid.Must(uuid.NewV7())
		s := benchStart(i)
		type guest struct{ Email, Name, Response, Role string }
		var gs []guest
		for _, p := range benchGuests(i) {
			gs = append(gs, guest{fmt.Sprintf("person%03d@example.com", p), fmt.Sprintf("Person %d", p), "accepted", "required"})
		}
		doc, _ := json.Marshal(gs)
		events = append(events, []any{id.String(), f.user.String(), f.account.String(), fmt.Sprintf("bench%05d", i), fmt.Sprintf("Meeting %d", i),
			s, s.Add(30 * time.Minute), "confirmed", string(doc), now})
		seen := map[int]bool{}
		for _, p := range benchGuests(i) {
			if seen[p] {
				continue
			}
			seen[p] = true
			if contacts[p] == uuid.Nil {
				contacts[p] = uuid.Must(uuid.NewV7())
			}
			counts[p]++
			if s.After(last[p]) {
				last[p] = s
			}
			links = append(links, []any{id.String(), contacts[p].String(), f.user.String(), s, "accepted", "required"})
		}
	}
	var people [][]any
	for p := range benchPeople {
		people = append(people, []any{contacts[p].String(), f.user.String(), fmt.Sprintf("person%03d@example.com", p), fmt.Sprintf("Person %d", p), "email", counts[p], last[p]})
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"contacts"}, []string{"id", "user_id", "email", "name", "name_source", "interaction_count", "last_interaction_at"},
		pgx.CopyFromRows(people)); err != nil {
		return err
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"calendar_events"}, []string{"id", "user_id", "account_id", "google_id", "title", "starts_at", "ends_at", "status", "attendees", "linked_at"},
		pgx.CopyFromRows(events)); err != nil {
		return err
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"event_contacts"}, []string{"event_id", "contact_id", "user_id", "starts_at", "response", "role"},
		pgx.CopyFromRows(links)); err != nil {
		return err
	}
	return tx.Commit(ctx)
}
