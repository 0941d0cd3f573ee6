package queue_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/domain/meeting"
	"github.com/personalcrm/core/shared/errs"
	"github.com/personalcrm/core/shared/queue"
)

// TestKindsAreTheCatalogsJobs: every job type of the catalog has a
// payload, and every payload a job type.
func TestKindsAreTheCatalogsJobs(t *testing.T) {
	var want []string
	for _, fn := range catalog.Jobs() {
		want = append(want, fn.Name)
	}
	if d := cmp.Diff(want, queue.Kinds()); d != "" {
		t.Fatalf("payload kinds and catalog jobs differ (-catalog +payloads):\n%s", d)
	}
	for _, kind := range queue.Kinds() {
		if !queue.Known(kind) {
			t.Errorf("job type %s has no payload", kind)
		}
	}
	// Payloads declared beside their handlers register themselves.
	for _, p := range []queue.Payload{queue.EmailSync{}, queue.ContactExtraction{}, queue.Enrichment{}, queue.AIAnalysis{}, meeting.SyncJob{}} {
		if !queue.Known(p.Kind()) {
			t.Errorf("%T: kind %q unknown", p, p.Kind())
		}
		if _, ok := p.(queue.Owned); !ok {
			t.Errorf("%T: has no owner", p)
		}
	}
}

// TestSchedulesSendPayloads: a schedule that targets a job sends its
// payload, which must be that job's.
func TestSchedulesSendPayloads(t *testing.T) {
	for _, s := range catalog.Schedules() {
		if fn := catalog.MustLookup(s.Target); fn.Kind == catalog.Job {
			if _, err := queue.DecodeKind(fn.Name, []byte(s.Payload)); err != nil {
				t.Errorf("schedule %s: payload %s is not a %s payload: %v", s.Name, s.Payload, fn.Name, err)
			}
		}
	}
}

func TestDecode(t *testing.T) {
	user, email := uuid.New(), uuid.New()
	got, err := queue.Decode[queue.ContactExtraction]([]byte(` {"userId":"` + user.String() + `","emailId":"` + email.String() + `","extra":1}`))
	if err != nil || got != (queue.ContactExtraction{UserID: user, EmailID: email}) {
		t.Fatalf("decode: %+v %v", got, err)
	}
	for _, body := range []string{"", "null", "[]", `"x"`, "{", `{"userId":"nope"}`, `{"userId":"` + user.String() + `"}`} {
		_, err := queue.Decode[queue.ContactExtraction]([]byte(body))
		if !errs.Is(err, errs.KindInvalid) {
			t.Errorf("decode %q: %v, want Invalid", body, err)
		}
	}
	if _, err := queue.DecodeKind("mystery", []byte("{}")); !errs.Is(err, errs.KindInvalid) {
		t.Errorf("unknown kind: %v", err)
	}
	p, err := queue.DecodeKind(catalog.Enrichment, []byte(`{"userId":"`+user.String()+`","contactId":"`+email.String()+`","sources":["web"]}`))
	if err != nil || p.(queue.Enrichment).Sources[0] != "web" {
		t.Errorf("decode enrichment: %+v %v", p, err)
	}
}

func TestBackoff(t *testing.T) {
	b := queue.Backoff{Base: 10 * time.Second, Max: time.Minute}
	for _, tt := range []struct {
		attempt int
		nominal time.Duration
	}{{0, 10 * time.Second}, {1, 10 * time.Second}, {2, 20 * time.Second}, {3, 40 * time.Second}, {4, time.Minute}, {30, time.Minute}} {
		for _, j := range []float64{0, 0.5, 0.999} {
			b.Jitter = func() float64 { return j }
			d := b.Delay(tt.attempt)
			if d < tt.nominal/2 || d > tt.nominal {
				t.Errorf("attempt %d, jitter %v: delay %v outside [%v, %v]", tt.attempt, j, d, tt.nominal/2, tt.nominal)
			}
		}
	}
	b.Jitter = nil
	seen := map[time.Duration]bool{}
	for range 20 {
		seen[b.Delay(3)] = true
	}
	if len(seen) < 2 {
		t.Errorf("no jitter: %v", seen)
	}
	if d := (queue.Backoff{}).Delay(3); d != 0 {
		t.Errorf("zero backoff waits %v", d)
	}
}
