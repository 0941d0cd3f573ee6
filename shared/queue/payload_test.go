package queue_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/domain/contact"
	"github.com/personalcrm/core/shared/domain/email"
	"github.com/personalcrm/core/shared/domain/insight"
	"github.com/personalcrm/core/shared/errs"
	"github.com/personalcrm/core/shared/queue"
)

// TestKindsAreTheCatalogsJobs: the job types are the catalog's, and each
// payload is the payload of one of them, with an owner.
func TestKindsAreTheCatalogsJobs(t *testing.T) {
	var want []string
	for _, fn := range catalog.Jobs() {
		want = append(want, fn.Name)
	}
	if d := cmp.Diff(want, queue.Kinds()); d != "" {
		t.Fatalf("payload kinds and catalog jobs differ (-catalog +payloads):\n%s", d)
	}
	// The job types' payloads, defined beside their code.
	for _, p := range []queue.Payload{email.SyncJob{}, contact.ExtractionJob{}, contact.EnrichmentJob{}, insight.AnalysisJob{}} {
		if !queue.Known(p.Kind()) {
			t.Errorf("%T: kind %q unknown", p, p.Kind())
		}
		if _, ok := p.(queue.Owned); !ok {
			t.Errorf("%T: has no owner", p)
		}
	}
}

func TestDecode(t *testing.T) {
	user, email := uuid.New(), uuid.New()
	got, err := queue.Decode[contact.ExtractionJob]([]byte(` {"userId":"` + user.String() + `","emailId":"` + email.String() + `","extra":1}`))
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if diff := cmp.Diff(contact.ExtractionJob{UserID: user, EmailID: email}, got); diff != "" {
		t.Fatalf("decode (-want +got):\n%s", diff)
	}
	for _, body := range []string{"", "null", "[]", `"x"`, "{", `{"userId":"nope"}`, `{"userId":"` + user.String() + `"}`} {
		_, err := queue.Decode[contact.ExtractionJob]([]byte(body))
		if !errs.Is(err, errs.KindInvalid) {
			t.Errorf("decode %q: %v, want Invalid", body, err)
		}
	}
	if queue.Known("mystery") || queue.Known(catalog.ContactsGet) {
		t.Errorf("a name that is no job type is known")
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
