package contacts_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/domain/contact"
	"github.com/personalcrm/core/shared/testkit"
)

// The benchmark's user: contacts, and interactions with them in all
// (emails and meetings, one link each), the busiest contact's share.
const (
	figContacts = 10_000
	figEmails   = 80_000
	figMeetings = 20_000
	figBusy     = 5_000
)

// recorder is a contact store that remembers the last query it ran, so
// that its plan can be shown.
type recorder struct {
	*db.Pool
	sql  string
	args []any
}

func (r *recorder) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	r.sql, r.args = sql, args
	return r.Pool.Query(ctx, sql, args...)
}

// BenchmarkContactFigures times, for a user with 10,000 contacts and
// 100,000 interactions, the first page of the contacts the user has been
// quiet with for 90 days, longest quiet first, and the first page of the
// busiest contact's timeline, as read now and as it was read before links
// carried their email's time (joined to the emails, all sorted); it prints
// the indexes their plans use:
//
//	contacts_quiet_for_us 310.5 us p90=402.1 index=contacts_user_last_interaction_idx,...
//	contacts_quiet_for_plan index=contacts_user_last_interaction_idx,...
//	contacts_timeline_before_us 9800.0 us p90=10402.3 index=email_contacts_contact_idx,...
//	contacts_timeline_before_plan index=email_contacts_contact_idx,...
//	contacts_timeline_us 210.0 us p90=302.3 index=email_contacts_contact_sort_idx,...
//	contacts_timeline_plan index=email_contacts_contact_sort_idx,...
//
// It fails if any plan reads contacts or email_contacts by a sequential
// scan, and if the timeline's plan does not read a page of the contact's
// emails from email_contacts_contact_sort_idx (but sorts all of them).
func BenchmarkContactFigures(b *testing.B) {
	d := testkit.NewDatabase(b)
	pool := d.Pool(b)
	ctx := context.Background()
	user, _ := testkit.User(b, pool, "busy@example.com")
	other, _ := testkit.User(b, pool, "other@example.com")
	busy := seedFigures(b, pool, user, figContacts, figEmails, figMeetings, figBusy)
	seedFigures(b, pool, other, figContacts/5, figEmails/5, figMeetings/5, figBusy/5)
	// As the owner: the runtime role may not analyze, and is only warned.
	if _, err := d.OwnerPool(b).Exec(ctx, `analyze contacts, emails, email_contacts, calendar_events, event_contacts`); err != nil {
		b.Fatal(err)
	}
	rec := &recorder{Pool: pool}
	svc := contact.NewService(rec)

	quiet := func() {
		page, err := svc.List(ctx, user, contact.Query{QuietFor: 90, Sort: contact.SortLastInteractionAsc})
		if err != nil {
			b.Fatal(err)
		}
		if len(page.Items) != contact.DefaultLimit || page.Next == nil {
			b.Fatalf("quiet page of %d contacts", len(page.Items))
		}
		cutoff := time.Now().AddDate(0, 0, -90)
		for i, c := range page.Items {
			if c.UserID != user || c.LastInteractionAt == nil || !c.LastInteractionAt.Before(cutoff) ||
				i > 0 && c.LastInteractionAt.Before(*page.Items[i-1].LastInteractionAt) {
				b.Fatalf("contact %d of the quiet page: %+v", i, c)
			}
		}
	}
	// The timeline's query before email_contacts carried the emails' time.
	far := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	before := func() {
		rows, err := rec.Query(ctx, timelineBefore, user, busy, far, uuid.Max, contact.DefaultLimit+1)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for rows.Next() {
			n++
		}
		if err := rows.Err(); err != nil {
			b.Fatal(err)
		}
		if n != contact.DefaultLimit+1 {
			b.Fatalf("timeline before: %d items", n)
		}
	}
	timeline := func() {
		t, err := svc.Timeline(ctx, user, busy, contact.TimelineQuery{})
		if err != nil {
			b.Fatal(err)
		}
		if len(t.Items) != contact.DefaultLimit || t.Next == nil {
			b.Fatalf("timeline page of %d items", len(t.Items))
		}
	}
	for _, run := range []struct {
		name string
		do   func()
		// A page of the emails: the index that must read them, and the
		// most links it may return.
		index string
		page  float64
	}{
		{name: "contacts_quiet_for", do: quiet},
		{name: "contacts_timeline_before", do: before},
		{name: "contacts_timeline", do: timeline, index: "email_contacts_contact_sort_idx", page: contact.DefaultLimit + 1},
	} {
		run.do()
		indexes := explain(b, pool, rec.sql, rec.args, run.index, run.page)
		for range 10 {
			run.do()
		}
		var us []float64
		for range 100 {
			start := time.Now()
			run.do()
			us = append(us, float64(time.Since(start).Nanoseconds())/1000)
		}
		sort.Float64s(us)
		list := strings.Join(indexes, ",")
		fmt.Printf("%s_us %.1f us p90=%.1f index=%s\n", run.name, us[len(us)/2], us[len(us)*9/10], list)
		fmt.Printf("%s_plan index=%s\n", run.name, list)
		b.ReportMetric(us[len(us)/2], run.name+"_us")
	}
}

// timelineBefore is the timeline's query as it was before email_contacts
// carried its email's time: every link of the contact joined to its email
// and sorted by the email's time.
const timelineBefore = `
	select kind, id, at, title, direction from (
		(select 'email' as kind, e.id, e.sort_at as at, e.subject as title,
			case when ec.role <> 'from' and 'SENT' = any(e.labels) then 'sent' else 'received' end as direction
		from email_contacts ec join emails e on e.id = ec.email_id
		where ec.contact_id = $2 and ec.user_id = $1 and (e.sort_at, e.id) < ($3, $4)
		order by e.sort_at desc, e.id desc limit $5)
		union all
		(select 'meeting', ev.id, x.starts_at, ev.title, ''
		from event_contacts x join calendar_events ev on ev.id = x.event_id
		where x.contact_id = $2 and x.user_id = $1 and (x.starts_at, x.event_id) < ($3, $4)
		order by x.starts_at desc, x.event_id desc limit $5)
	) t
	order by at desc, id desc limit $5`

// explain runs sql under EXPLAIN (ANALYZE) and returns the indexes its
// plan reads; it fails on a sequential scan of contacts or email_contacts.
// With index set, it fails unless email_contacts is read through index,
// each scan of it returning at most page rows.
func explain(b *testing.B, pool *db.Pool, sql string, args []any, index string, page float64) []string {
	b.Helper()
	var doc []byte
	if err := pool.QueryRow(context.Background(), "explain (analyze, format json) "+sql, args...).Scan(&doc); err != nil {
		b.Fatalf("explain: %v", err)
	}
	var plans []struct {
		Plan map[string]any `json:"Plan"`
	}
	if err := json.Unmarshal(doc, &plans); err != nil || len(plans) == 0 {
		b.Fatalf("explain: %v: %s", err, doc)
	}
	seen := map[string]bool{}
	var out []string
	read := false
	var walk func(n map[string]any)
	walk = func(n map[string]any) {
		rel, _ := n["Relation Name"].(string)
		if n["Node Type"] == "Seq Scan" && (rel == "contacts" || rel == "email_contacts") {
			b.Fatalf("sequential scan on %s:\n%s", rel, doc)
		}
		if index != "" && rel == "email_contacts" {
			rows, _ := n["Actual Rows"].(float64)
			if n["Index Name"] != index || rows > page {
				b.Fatalf("email_contacts read by %v, %v rows, want a page of at most %v from %s:\n%s", n["Index Name"], rows, page, index, doc)
			}
			read = true
		}
		if ix, ok := n["Index Name"].(string); ok && !seen[ix] {
			seen[ix] = true
			out = append(out, ix)
		}
		kids, _ := n["Plans"].([]any)
		for _, k := range kids {
			if m, ok := k.(map[string]any); ok {
				walk(m)
			}
		}
	}
	walk(plans[0].Plan)
	if index != "" && !read {
		b.Fatalf("the plan does not read email_contacts:\n%s", doc)
	}
	if len(out) == 0 {
		out = []string{"none"}
	}
	return out
}

// seedFigures gives user contacts, emails each linked to one of them,
// and meetings each held with one of them, spread over three years, with
// CopyFrom; the first contact has busy of the emails and a fifth as many
// of the meetings. The contacts' figures are those Recount would count.
// It returns the busiest contact.
func seedFigures(b *testing.B, pool *db.Pool, user uuid.UUID, contacts, emails, meetings, busy int) uuid.UUID {
	b.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(uint64(contacts), 7))
	now := time.Now().UTC().Truncate(time.Second)
	span := 3 * 365 * 24 * time.Hour
	type fig struct {
		n, sent, received, meetings int
		first, last                 time.Time
	}
	ids := make([]uuid.UUID, contacts)
	figs := make([]fig, contacts)
	for i := range ids {
		ids[i] = uuid.Must(uuid.NewV7())
	}
	// Who each interaction is with: the busy contact, else a skewed pick
	// that leaves some contacts without any.
	pick := func(share int, i, all int) int {
		if i < share {
			return 0
		}
		return 1 + int(float64(contacts-1)*rng.Float64()*rng.Float64())
	}
	add := func(c int, at time.Time) {
		f := &figs[c]
		f.n++
		if f.first.IsZero() || at.Before(f.first) {
			f.first = at
		}
		if at.After(f.last) {
			f.last = at
		}
	}
	var mail, mailLinks [][]any
	for i := range emails {
		id := uuid.Must(uuid.NewV7())
		at := now.Add(-time.Duration(rng.Int64N(int64(span))))
		c := pick(busy, i, emails)
		labels := []string{"INBOX"}
		role := "from"
		if i%3 == 0 {
			labels, role = []string{"SENT"}, "to"
			figs[c].sent++
		} else {
			figs[c].received++
		}
		add(c, at)
		mail = append(mail, []any{id, user, fmt.Sprintf("<m%d@example.com>", i), at, labels, fmt.Sprintf("Subject %d", i)})
		mailLinks = append(mailLinks, []any{id, ids[c], user, role})
	}
	account := uuid.Must(uuid.NewV7())
	var events, eventLinks [][]any
	for i := range meetings {
		id := uuid.Must(uuid.NewV7())
		at := now.Add(-time.Duration(rng.Int64N(int64(span))))
		c := pick(busy/5, i, meetings)
		figs[c].meetings++
		add(c, at)
		events = append(events, []any{id, user, account, fmt.Sprintf("ev%d", i), fmt.Sprintf("Meeting %d", i), at, at.Add(time.Hour), "confirmed", now})
		eventLinks = append(eventLinks, []any{id, ids[c], user, at, "accepted", "required"})
	}
	var people [][]any
	for i, f := range figs {
		var first, last *time.Time
		if f.n > 0 {
			first, last = &f.first, &f.last
		}
		people = append(people, []any{ids[i], user, fmt.Sprintf("person%05d@%s.example.com", i, user), fmt.Sprintf("Person %05d", i), "email",
			f.n, first, last, f.sent, f.received, f.meetings})
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `insert into accounts (id, user_id, provider, provider_account_id) values ($1, $2, 'google', $3)`, account, user, user.String()); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		table string
		cols  []string
		rows  [][]any
	}{
		{"contacts", []string{"id", "user_id", "email", "name", "name_source", "interaction_count", "first_interaction_at", "last_interaction_at", "emails_sent", "emails_received", "meetings"}, people},
		{"emails", []string{"id", "user_id", "message_id", "sent_at", "labels", "subject"}, mail},
		{"email_contacts", []string{"email_id", "contact_id", "user_id", "role"}, mailLinks},
		{"calendar_events", []string{"id", "user_id", "account_id", "google_id", "title", "starts_at", "ends_at", "status", "linked_at"}, events},
		{"event_contacts", []string{"event_id", "contact_id", "user_id", "starts_at", "response", "role"}, eventLinks},
	} {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{c.table}, c.cols, pgx.CopyFromRows(c.rows)); err != nil {
			b.Fatalf("copy %s: %v", c.table, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		b.Fatal(err)
	}
	return ids[0]
}
