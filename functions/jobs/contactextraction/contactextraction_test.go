package contactextraction_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/personalcrm/core/functions/jobs/contactextraction"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/domain/contact"
	"github.com/personalcrm/core/shared/domain/email"
	"github.com/personalcrm/core/shared/queue"
	"github.com/personalcrm/core/shared/queue/worker"
	"github.com/personalcrm/core/shared/testkit"
)

// mailbox is a user with synced mail whose expected contacts are known.
type mailbox struct {
	user   uuid.UUID
	owner  string
	emails []uuid.UUID
	// want is each expected contact's interaction count.
	want map[string]int
}

// seed stores n emails of a new user, exchanged with people drawn from a
// set of size people, plus the user's own addresses and automated senders
// that make no contact. Headers use display names, encoded words, odd
// casing and groups.
func seed(tb testing.TB, pool *db.Pool, n, people int) mailbox {
	tb.Helper()
	ctx := context.Background()
	owner := "owner-" + uuid.NewString()[:8] + "@mine.example"
	user, _ := testkit.User(tb, pool, owner)
	svc := email.NewService(pool)
	r := rand.New(rand.NewPCG(1, uint64(n)))
	person := func(i int) (header, addr string) {
		addr = fmt.Sprintf("person%03d@example.com", i)
		switch i % 4 {
		case 0:
			return fmt.Sprintf("Person %d <%s>", i, addr), addr
		case 1:
			return fmt.Sprintf("=?UTF-8?Q?P=C3=A9rson_%d?= <%s>", i, strings.ToUpper(addr)), addr
		case 2:
			return fmt.Sprintf(`"Person, %d" <%s>`, i, addr), addr
		}
		return addr, addr
	}
	m := mailbox{user: user, owner: owner, want: map[string]int{}}
	for i := range n {
		in := map[string]bool{}
		pick := func(k int) string {
			var parts []string
			for range k {
				h, a := person(r.IntN(people))
				parts = append(parts, h)
				in[a] = true
			}
			return strings.Join(parts, ", ")
		}
		f := email.Fields{Mailbox: owner, Subject: fmt.Sprintf("Message %d", i)}
		sent := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute)
		f.SentAt = &sent
		if i%2 == 0 {
			f.From = pick(1)
			f.To = "Me <" + strings.ToUpper(owner) + ">, " + pick(1)
		} else {
			f.From = owner
			f.To = "Team: " + pick(2) + ";"
		}
		f.Cc = pick(r.IntN(3)) + ", Robot <noreply@example.com>"
		e, err := svc.Create(ctx, user, f)
		if err != nil {
			tb.Fatal(err)
		}
		m.emails = append(m.emails, e.ID)
		for a := range in {
			m.want[a]++
		}
	}
	return m
}

// counts reads every contact's interaction count, and the links.
func counts(tb testing.TB, pool *db.Pool, user uuid.UUID) (map[string]int, int) {
	tb.Helper()
	ctx := context.Background()
	rows, err := pool.Query(ctx, `select email, interaction_count from contacts where user_id = $1`, user)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var e string
		var n int
		if err := rows.Scan(&e, &n); err != nil {
			tb.Fatal(err)
		}
		out[e] = n
	}
	var links int
	if err := pool.QueryRow(ctx, `select count(*) from email_contacts where user_id = $1`, user).Scan(&links); err != nil {
		tb.Fatal(err)
	}
	return out, links
}

// duplicateEffects is how far the contacts are from what each email
// counted once gives: extra or missing interactions, and extra links.
func duplicateEffects(tb testing.TB, pool *db.Pool, m mailbox) int {
	tb.Helper()
	got, links := counts(tb, pool, m.user)
	off, wantLinks := 0, 0
	for a, n := range m.want {
		wantLinks += n
		off += abs(got[a] - n)
	}
	for a, n := range got {
		if _, ok := m.want[a]; !ok {
			off += n + 1 // a contact that should not exist
		}
	}
	return off + abs(links-wantLinks)
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// enqueueAll writes a contact-extraction job per email and sends them.
func enqueueAll(tb testing.TB, q *queue.Queue, m mailbox) []queue.Job {
	tb.Helper()
	var jobs []queue.Job
	err := q.InTx(context.Background(), func(tx *queue.Tx) error {
		for _, id := range m.emails {
			j, err := tx.Enqueue(context.Background(), contact.ExtractionJob{UserID: m.user, EmailID: id})
			if err != nil {
				return err
			}
			jobs = append(jobs, j)
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return jobs
}

func TestContactExtraction(t *testing.T) {
	t.Parallel()
	pool := testkit.DB(t)
	mem := queue.NewMemory(queue.MemoryOptions{})
	q := queue.New(pool, mem, nil)
	w := contactextraction.Worker(worker.Deps{DB: pool, Backend: mem}, email.WithIgnore())
	fn := w.Function()
	m := seed(t, pool, 30, 12)
	jobs := enqueueAll(t, q, m)

	// Every batch is delivered twice, as SQS may: the second changes nothing.
	var batches []events.SQSEvent
	for {
		ds, err := mem.Receive(context.Background(), fn.Name, fn.BatchSize, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) == 0 {
			break
		}
		batches = append(batches, worker.Event(fn.Name, ds))
	}
	for round := range 2 {
		for _, ev := range batches {
			res, err := w.Handle(context.Background(), ev)
			if err != nil || len(res.BatchItemFailures) != 0 {
				t.Fatalf("round %d: %+v %v", round, res, err)
			}
		}
		if n := duplicateEffects(t, pool, m); n != 0 {
			got, _ := counts(t, pool, m.user)
			t.Fatalf("round %d: %d duplicate effects\n%s", round, n, cmp.Diff(m.want, got))
		}
	}
	for _, j := range jobs {
		got, err := queue.Get(context.Background(), pool, m.user, j.ID)
		if err != nil || got.State != queue.Succeeded || got.Attempts != 1 {
			t.Fatalf("job %s: %+v %v", j.ID, got, err)
		}
	}
	got, _ := counts(t, pool, m.user)
	if _, ok := got[m.owner]; ok {
		t.Error("the user is their own contact")
	}
	if _, ok := got["noreply@example.com"]; ok {
		t.Error("an automated sender is a contact")
	}
}

// TestContactExtractionOfAMissingEmail: an email deleted since its job was
// enqueued leaves nothing to do.
func TestContactExtractionOfAMissingEmail(t *testing.T) {
	t.Parallel()
	pool := testkit.DB(t)
	mem := queue.NewMemory(queue.MemoryOptions{})
	q := queue.New(pool, mem, nil)
	w := contactextraction.Worker(worker.Deps{DB: pool, Backend: mem}, email.WithIgnore())
	user, _ := testkit.User(t, pool, "gone@example.com")
	jobs := enqueueAll(t, q, mailbox{user: user, emails: []uuid.UUID{uuid.New()}})
	if _, err := worker.PollOnce(context.Background(), mem, w.Function(), w.Handle, 0); err != nil {
		t.Fatal(err)
	}
	if got, _ := queue.Get(context.Background(), pool, user, jobs[0].ID); got.State != queue.Succeeded {
		t.Fatalf("job: %s", got.State)
	}
}

// TestEveryJobTypeHasAWorker: Jobs, given the workers built in their own
// packages, covers each job type of the catalog once.
