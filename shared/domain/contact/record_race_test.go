package contact_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/domain/contact"
	"github.com/personalcrm/core/shared/testkit"
)

// TestRecordingConcurrentlyKeepsFiguresExact: overlapping pages, their
// emails in both orders, single emails in both orders, and meetings'
// recounts of the same contacts, all at once, neither fail (no deadlock)
// nor miscount: each contact's figures are those of its links.
func TestRecordingConcurrentlyKeepsFiguresExact(t *testing.T) {
	t.Parallel()
	pool := testkit.DB(t)
	svc := contact.NewService(pool)
	ctx := context.Background()
	user, _ := testkit.User(t, pool, "crowded@example.com")
	people := 24
	addr := func(i int) string { return fmt.Sprintf("p%02d@example.com", i) }
	// Four contacts exist already, two of them named by the user, two
	// without a name.
	for _, f := range []contact.Fields{{Email: ptr(addr(3)), Name: ptr("Set By User")}, {Email: ptr(addr(7))}, {Email: ptr(addr(11)), Name: ptr("Also Set")}} {
		if _, err := svc.Create(ctx, user, f); err != nil {
			t.Fatal(err)
		}
	}

	r := rand.New(rand.NewPCG(1, 2))
	roles := []string{"from", "to", "cc", "bcc", "reply_to"}
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var emails []contact.Interaction
	for i := range 120 {
		at := start.Add(time.Duration(r.IntN(100000)) * time.Minute)
		id := uuid.Must(uuid.NewV7())
		labels := []string{}
		if i%3 == 0 {
			labels = []string{"SENT"}
		}
		if _, err := pool.Exec(ctx, `insert into emails (id, user_id, labels, sent_at) values ($1, $2, $3, $4)`, id, user, labels, at); err != nil {
			t.Fatal(err)
		}
		var ps []contact.Participant
		for _, j := range r.Perm(people)[:2+r.IntN(7)] {
			ps = append(ps, contact.Participant{Email: addr(j), Name: fmt.Sprintf("Person %d", j), Role: roles[r.IntN(len(roles))]})
		}
		emails = append(emails, contact.Interaction{EmailID: id, At: at, Participants: ps})
	}

	// A copy of ins, its emails and their participants shuffled.
	shuffled := func(seed uint64, ins []contact.Interaction) []contact.Interaction {
		r := rand.New(rand.NewPCG(seed, 3))
		out := make([]contact.Interaction, len(ins))
		for i, in := range ins {
			in.Participants = slices.Clone(in.Participants)
			r.Shuffle(len(in.Participants), func(a, b int) { in.Participants[a], in.Participants[b] = in.Participants[b], in.Participants[a] })
			out[i] = in
		}
		r.Shuffle(len(out), func(a, b int) { out[a], out[b] = out[b], out[a] })
		return out
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed []error
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		failed = append(failed, err)
	}
	for round := range 3 {
		// Overlapping pages, forwards and backwards.
		for i := 0; i < len(emails); i += 20 {
			page := emails[i:min(i+30+round*10, len(emails))]
			wg.Go(func() {
				if _, err := svc.RecordInteractions(ctx, user, page); err != nil {
					fail(fmt.Errorf("page %d: %w", i, err))
				}
			})
			wg.Go(func() {
				back := slices.Clone(page)
				slices.Reverse(back)
				if _, err := svc.RecordInteractions(ctx, user, shuffled(uint64(round*1000+i), back)); err != nil {
					fail(fmt.Errorf("page %d backwards: %w", i, err))
				}
			})
		}
		// Single emails, forwards and backwards.
		for k, dir := range []int{1, -1} {
			wg.Go(func() {
				for j := range 40 {
					in := emails[(round*40+j*dir+len(emails))%len(emails)]
					if _, err := svc.RecordInteraction(ctx, user, shuffled(uint64(j+k), []contact.Interaction{in})[0]); err != nil {
						fail(fmt.Errorf("email %s: %w", in.EmailID, err))
					}
				}
			})
		}
		// Meetings with every other person, their contacts recounted (the
		// others' figures are only what recording added).
		for range 4 {
			wg.Go(func() {
				var all []string
				for i := people - 2; i >= 0; i -= 2 {
					all = append(all, addr(i))
				}
				err := db.InTx(ctx, pool, func(tx db.Tx) error {
					ids, err := svc.Ensure(ctx, tx, user, all, make([]string, len(all)))
					if err != nil {
						return err
					}
					var list []uuid.UUID
					for _, id := range ids {
						list = append(list, id)
					}
					_, err = svc.Recount(ctx, tx, user, list)
					return err
				})
				if err != nil {
					fail(fmt.Errorf("recount: %w", err))
				}
			})
		}
	}
	wg.Wait()
	for _, err := range failed {
		if pe := (*pgconn.PgError)(nil); errors.As(err, &pe) && pe.Code == "40P01" {
			t.Errorf("deadlock: %v", err)
		} else {
			t.Error(err)
		}
	}

	// Every participant of every email is linked once, in its strongest
	// role.
	var links int
	if err := pool.QueryRow(ctx, `select count(*) from email_contacts where user_id = $1`, user).Scan(&links); err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, in := range emails {
		want += len(in.Participants)
	}
	if links != want {
		t.Errorf("%d links, want %d", links, want)
	}
	// Each contact's figures are those of its links.
	rows, err := pool.Query(ctx, `select c.email, c.interaction_count, c.emails_sent, c.emails_received,
			c.first_interaction_at, c.last_interaction_at, l.n, l.sent, l.first, l.last
		from contacts c cross join lateral (select count(*) as n,
				count(*) filter (where 'SENT' = any(e.labels) and ec.role <> 'from') as sent,
				min(e.sort_at) as first, max(e.sort_at) as last
			from email_contacts ec join emails e on e.id = ec.email_id where ec.contact_id = c.id) l
		where c.user_id = $1 order by c.email`, user)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := 0
	for rows.Next() {
		var email string
		var count, sent, received, n, nSent int
		var first, last, wantFirst, wantLast *time.Time
		if err := rows.Scan(&email, &count, &sent, &received, &first, &last, &n, &nSent, &wantFirst, &wantLast); err != nil {
			t.Fatal(err)
		}
		seen++
		if count != n || sent != nSent || received != n-nSent || !sameTime(first, wantFirst) || !sameTime(last, wantLast) {
			t.Errorf("%s: %d interactions (%d sent, %d received), first %v, last %v; its links: %d (%d sent), first %v, last %v",
				email, count, sent, received, first, last, n, nSent, wantFirst, wantLast)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if seen != people {
		t.Errorf("%d contacts, want %d", seen, people)
	}
	// Names from mail fill only what the user left empty.
	got := byEmail(t, svc, user)
	for i := range people {
		name := deref(got[addr(i)].Name)
		want := fmt.Sprintf("Person %d", i)
		switch i {
		case 3:
			want = "Set By User"
		case 11:
			want = "Also Set"
		}
		if name != want {
			t.Errorf("%s is named %q, want %q", addr(i), name, want)
		}
	}
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}
