package enrichment_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/personalcrm/core/functions/jobs/enrichment"
	"github.com/personalcrm/core/shared/cache"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/domain/contact"
	"github.com/personalcrm/core/shared/errs"
	"github.com/personalcrm/core/shared/feature"
	"github.com/personalcrm/core/shared/google"
	"github.com/personalcrm/core/shared/queue"
	"github.com/personalcrm/core/shared/queue/worker"
	"github.com/personalcrm/core/shared/sandbox"
	"github.com/personalcrm/core/shared/testkit"
)

// fixture is a user with the enrichment feature and a Google account at
// a sandbox Google whose Contacts the enrichment worker reads, on an
// in-memory queue, with a cache of contact reads.
type fixture struct {
	pool     *db.Pool
	mem      *queue.Memory
	q        *queue.Queue
	kit      testkit.GoogleKit
	w        *worker.Worker
	contacts *contact.Service
	user     uuid.UUID
	account  uuid.UUID
	addr     string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	pool := testkit.DB(t)
	mem := queue.NewMemory(queue.MemoryOptions{})
	kit := testkit.StartGoogleKit(t, pool, sandbox.GoogleOptions{})
	addr := "owner@mine.example"
	user, _, account := kit.Account(t, pool, addr)
	if _, err := feature.NewSettings(pool).Set(context.Background(), user, feature.Enrichment, true); err != nil {
		t.Fatal(err)
	}
	c := cache.New(cache.NewMemory(0), cache.Options{})
	o := enrichment.Options{Google: kit.Client, Tokens: kit.Tokens, Gates: feature.Gates{feature.Enrichment: true}}
	return &fixture{
		pool: pool, mem: mem, q: queue.New(pool, mem, nil), kit: kit, user: user, account: account, addr: addr,
		w:        enrichment.Worker(worker.Deps{DB: pool, Backend: mem, Cache: c}, o),
		contacts: contact.NewService(pool, contact.WithCache(c)),
	}
}

// contact creates a contact of user with the fields given.
func (f *fixture) contact(t *testing.T, user uuid.UUID, fields contact.Fields) contact.Contact {
	t.Helper()
	c, err := contact.NewService(f.pool).Create(context.Background(), user, fields)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// enrich enqueues an enrichment of the contact id for user and runs it.
func (f *fixture) enrich(t *testing.T, user, id uuid.UUID) queue.Job {
	t.Helper()
	var j queue.Job
	err := f.q.InTx(context.Background(), func(tx *queue.Tx) error {
		var err error
		j, err = tx.Enqueue(context.Background(), contact.EnrichmentJob{UserID: user, ContactID: id, Sources: []string{contact.SourceGoogleContacts}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := worker.PollOnce(context.Background(), f.mem, f.w.Function(), f.w.Handle, 0); err != nil {
		t.Fatal(err)
	}
	got, err := queue.Get(context.Background(), f.pool, user, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// get reads the contact through the cached service, as the API does.
func (f *fixture) get(t *testing.T, id uuid.UUID) contact.Contact {
	t.Helper()
	c, err := f.contacts.Get(context.Background(), f.user, id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var ada = sandbox.GooglePerson{
	GivenName: "Ada", FamilyName: "Lovelace", Emails: []string{"Ada@Example.com"},
	Company: "Analytical Engines", JobTitle: "Mathematician", Phones: []string{"+44 20 7946 0000"},
	URLs: []string{"https://ada.example.com"}, PhotoURL: "https://lh3.googleusercontent.com/a/ada",
}

func ptr(s string) *string { return &s }

func str(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

func describe(j queue.Job) string {
	return fmt.Sprintf("%s after %d attempts: %q (%s)", j.State, j.Attempts, str(j.LastError), str(j.Error))
}

// TestEnrichFills: the person found in Google Contacts fills the
// contact; a second run changes nothing.
func TestEnrichFills(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	// Another person whose address the contact's is a prefix of: not a match.
	f.kit.Sandbox.AddPerson(f.addr, sandbox.GooglePerson{GivenName: "Other", Emails: []string{"ada@example.community"}, Company: "Wrong"})
	f.kit.Sandbox.AddPerson(f.addr, ada)
	c := f.contact(t, f.user, contact.Fields{Email: ptr("ada@example.com")})
	f.get(t, c.ID) // cached before the job

	if j := f.enrich(t, f.user, c.ID); j.State != queue.Succeeded {
		t.Fatalf("job %s", describe(j))
	}
	got := f.get(t, c.ID)
	if str(got.Name) != "Ada Lovelace" || str(got.Company) != "Analytical Engines" || str(got.JobTitle) != "Mathematician" ||
		str(got.Phone) != "+44 20 7946 0000" || str(got.PhotoURL) != "https://lh3.googleusercontent.com/a/ada" ||
		str(got.EnrichedFrom) != contact.SourceGoogleContacts || got.EnrichmentMatched == nil || !*got.EnrichmentMatched ||
		got.EnrichedAt == nil || !got.UpdatedAt.After(c.UpdatedAt) {
		t.Fatalf("enriched contact %+v", got)
	}
	// The warm-up came first: two searches.
	if n := f.kit.Sandbox.Calls("people searchContacts"); n != 2 {
		t.Errorf("%d searches", n)
	}

	// Again: nothing changes, not even updated_at.
	if j := f.enrich(t, f.user, c.ID); j.State != queue.Succeeded {
		t.Fatalf("second job %s", describe(j))
	}
	again := f.get(t, c.ID)
	if !again.UpdatedAt.Equal(got.UpdatedAt) || !again.EnrichedAt.Equal(*got.EnrichedAt) {
		t.Fatalf("second run changed the contact: %v -> %v", got.UpdatedAt, again.UpdatedAt)
	}

	// The user changes the company and clears the phone: later
	// enrichments leave both as the user set them.
	if _, err := f.contacts.Update(context.Background(), f.user, c.ID, contact.Fields{Company: ptr("Own Co"), Phone: ptr("")}); err != nil {
		t.Fatal(err)
	}
	if j := f.enrich(t, f.user, c.ID); j.State != queue.Succeeded {
		t.Fatalf("third job %s", describe(j))
	}
	if got := f.get(t, c.ID); str(got.Company) != "Own Co" || got.Phone != nil || str(got.JobTitle) != "Mathematician" {
		t.Fatalf("enrichment replaced what the user set: %+v", got)
	}
}

// TestEnrichKeepsTheUsersName: a name the user set stays; a name taken
// from mail gives way to the one in the user's Google Contacts.
func TestEnrichKeepsTheUsersName(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.kit.Sandbox.AddPerson(f.addr, ada)
	set := f.contact(t, f.user, contact.Fields{Email: ptr("ada@example.com"), Name: ptr("Countess"), Company: ptr("Mine")})
	if j := f.enrich(t, f.user, set.ID); j.State != queue.Succeeded {
		t.Fatalf("job %s", describe(j))
	}
	got := f.get(t, set.ID)
	if str(got.Name) != "Countess" || str(got.Company) != "Mine" || str(got.JobTitle) != "Mathematician" {
		t.Fatalf("contact %+v", got)
	}

	f.kit.Sandbox.AddPerson(f.addr, sandbox.GooglePerson{GivenName: "Charles", FamilyName: "Babbage", Emails: []string{"charles@example.com"}})
	fromMail := f.contact(t, f.user, contact.Fields{Email: ptr("charles@example.com")})
	if _, err := f.pool.Exec(context.Background(), `update contacts set name = 'charles', name_source = 'email' where id = $1`, fromMail.ID); err != nil {
		t.Fatal(err)
	}
	if j := f.enrich(t, f.user, fromMail.ID); j.State != queue.Succeeded {
		t.Fatalf("job %s", describe(j))
	}
	if got := f.get(t, fromMail.ID); str(got.Name) != "Charles Babbage" {
		t.Fatalf("name %q", str(got.Name))
	}
}

// TestEnrichNoMatch: a contact Google Contacts does not know is recorded
// as enriched without a match, once.
func TestEnrichNoMatch(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.kit.Sandbox.AddPerson(f.addr, ada)
	c := f.contact(t, f.user, contact.Fields{Email: ptr("nobody@example.com"), Name: ptr("Nobody")})
	if j := f.enrich(t, f.user, c.ID); j.State != queue.Succeeded {
		t.Fatalf("job %s", describe(j))
	}
	got := f.get(t, c.ID)
	if got.EnrichmentMatched == nil || *got.EnrichmentMatched || str(got.EnrichedFrom) != contact.SourceGoogleContacts ||
		got.Company != nil || got.PhotoURL != nil {
		t.Fatalf("contact %+v", got)
	}
	if j := f.enrich(t, f.user, c.ID); j.State != queue.Succeeded {
		t.Fatalf("second job %s", describe(j))
	}
	if again := f.get(t, c.ID); !again.UpdatedAt.Equal(got.UpdatedAt) {
		t.Fatal("a second run without a match changed the contact")
	}
}

// TestEnrichOtherUsersContact: a payload naming another user's contact
// touches nothing and ends; so does a contact that is gone.
func TestEnrichOtherUsersContact(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.kit.Sandbox.AddPerson(f.addr, ada)
	bob, _ := testkit.User(t, f.pool, "bob@example.com")
	theirs := f.contact(t, bob, contact.Fields{Email: ptr("ada@example.com")})
	for _, id := range []uuid.UUID{theirs.ID, uuid.New()} {
		if j := f.enrich(t, f.user, id); j.State != queue.Succeeded {
			t.Fatalf("job %s", describe(j))
		}
	}
	got, err := contact.NewService(f.pool).Get(context.Background(), bob, theirs.ID)
	if err != nil || !got.UpdatedAt.Equal(theirs.UpdatedAt) || got.Name != nil || got.EnrichedAt != nil {
		t.Fatalf("another user's contact changed: %+v %v", got, err)
	}
	if n := f.kit.Sandbox.Calls("people"); n != 0 {
		t.Errorf("%d People API calls", n)
	}
}

// TestEnrichNeedsConsent: an account whose grant is gone ends the job at
// once with a message the user can act on, and no secret in it.
func TestEnrichNeedsConsent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.kit.Sandbox.AddPerson(f.addr, ada)
	c := f.contact(t, f.user, contact.Fields{Email: ptr("ada@example.com")})
	f.kit.Sandbox.RevokeUser(f.addr)
	if _, err := f.pool.Exec(context.Background(), `update accounts set expires_at = now() - interval '1 second' where id = $1`, f.account); err != nil {
		t.Fatal(err)
	}
	j := f.enrich(t, f.user, c.ID)
	if j.State != queue.Dead || j.Attempts != 1 || j.LastError == nil ||
		*j.LastError != google.ReconnectMessage {
		t.Fatalf("job %s", describe(j))
	}
	for _, secret := range f.kit.Sandbox.Issued() {
		if strings.Contains(*j.LastError, secret) || (j.Error != nil && strings.Contains(*j.Error, secret)) {
			t.Fatal("a token reached the job's errors")
		}
	}
	if got := f.get(t, c.ID); got.EnrichedAt != nil || got.Name != nil {
		t.Fatalf("contact changed: %+v", got)
	}
}

// TestEnrichGoogleFailures: rate limits and server errors are retried.
func TestEnrichGoogleFailures(t *testing.T) {
	t.Parallel()
	for status, msg := range map[int]string{
		http.StatusTooManyRequests:     "Google Contacts is limiting requests; the enrichment will resume shortly",
		http.StatusInternalServerError: "Google Contacts is unavailable",
	} {
		f := newFixture(t)
		f.kit.Sandbox.AddPerson(f.addr, ada)
		c := f.contact(t, f.user, contact.Fields{Email: ptr("ada@example.com")})
		f.kit.Sandbox.FailPeople(status)
		j := f.enrich(t, f.user, c.ID)
		if j.State != queue.Failed || j.LastError == nil || *j.LastError != msg {
			t.Errorf("%d: job %s", status, describe(j))
		}
		if got := f.get(t, c.ID); got.EnrichedAt != nil {
			t.Errorf("%d: contact changed", status)
		}
	}
}

// TestEnrichFeatureOff: a user without the feature by the time the job
// runs ends it; so does an environment that gates it off.
func TestEnrichFeatureOff(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.kit.Sandbox.AddPerson(f.addr, ada)
	c := f.contact(t, f.user, contact.Fields{Email: ptr("ada@example.com")})
	if _, err := feature.NewSettings(f.pool).Set(context.Background(), f.user, feature.Enrichment, false); err != nil {
		t.Fatal(err)
	}
	j := f.enrich(t, f.user, c.ID)
	if j.State != queue.Dead || j.Attempts != 1 || str(j.LastError) != "Enrichment is not enabled" {
		t.Fatalf("job %s", describe(j))
	}
	if n := f.kit.Sandbox.Calls("people"); n != 0 {
		t.Errorf("%d People API calls", n)
	}

	feature.NewSettings(f.pool).Set(context.Background(), f.user, feature.Enrichment, true)
	gated := enrichment.Worker(worker.Deps{DB: f.pool, Backend: f.mem}, enrichment.Options{Google: f.kit.Client, Tokens: f.kit.Tokens})
	f.w = gated
	if j := f.enrich(t, f.user, c.ID); j.State != queue.Dead || str(j.LastError) != "Enrichment is not enabled" {
		t.Fatalf("gated off: job %s", describe(j))
	}
}

// TestEnrichUnknownSource: a payload naming a source that does not exist
// ends the job.
func TestEnrichUnknownSource(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.contact(t, f.user, contact.Fields{Email: ptr("ada@example.com")})
	var j queue.Job
	err := f.q.InTx(context.Background(), func(tx *queue.Tx) error {
		var err error
		j, err = tx.Enqueue(context.Background(), contact.EnrichmentJob{UserID: f.user, ContactID: c.ID, Sources: []string{"web"}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := worker.PollOnce(context.Background(), f.mem, f.w.Function(), f.w.Handle, 0); err != nil {
		t.Fatal(err)
	}
	if got, _ := queue.Get(context.Background(), f.pool, f.user, j.ID); got.State != queue.Dead || got.Attempts != 1 {
		t.Fatalf("job %s", describe(got))
	}
}

// TestEnrichAccessRevokedLive: the person removes the app's access while
// the stored access token has not expired. Google Contacts answers 401;
// the one refresh answers invalid_grant: the account is marked as needing
// consent and the job ends at once, asking to reconnect.
func TestEnrichAccessRevokedLive(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.kit.Sandbox.AddPerson(f.addr, ada)
	c := f.contact(t, f.user, contact.Fields{Email: ptr("ada@example.com")})
	f.kit.Sandbox.RevokeUser(f.addr)
	j := f.enrich(t, f.user, c.ID)
	if j.State != queue.Dead || j.Attempts != 1 || j.LastError == nil || *j.LastError != google.ReconnectMessage {
		t.Fatalf("job %s", describe(j))
	}
	var gone bool
	if err := f.pool.QueryRow(context.Background(), `select needs_reconsent from accounts where id = $1`, f.account).Scan(&gone); err != nil || !gone {
		t.Fatalf("needs_reconsent %v, %v", gone, err)
	}
	if got := f.get(t, c.ID); got.EnrichedAt != nil {
		t.Fatalf("contact changed: %+v", got)
	}
}

// TestEnrichContactsNotGranted: the person unticked Contacts at the
// consent page; Google answers 403 ACCESS_TOKEN_SCOPE_INSUFFICIENT. The
// job ends at once asking to grant Contacts, and the stored grant loses
// Contacts, so that the route refuses the next request up front.
func TestEnrichContactsNotGranted(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	user, _, account := f.kit.Account(t, f.pool, "unticked@mine.example", google.ScopeContactsReadonly)
	if _, err := feature.NewSettings(f.pool).Set(ctx, user, feature.Enrichment, true); err != nil {
		t.Fatal(err)
	}
	// The stored grant still lists Contacts (granted at an earlier sign-in).
	if _, err := f.pool.Exec(ctx, `update accounts set scope = scope || ' ' || $2 where id = $1`, account, google.ScopeContactsReadonly); err != nil {
		t.Fatal(err)
	}
	f.kit.Sandbox.AddPerson("unticked@mine.example", ada)
	c := f.contact(t, user, contact.Fields{Email: ptr("ada@example.com")})
	j := f.enrich(t, user, c.ID)
	if j.State != queue.Dead || j.Attempts != 1 || j.LastError == nil || !strings.HasPrefix(*j.LastError, "Grant access to Contacts") {
		t.Fatalf("job %s", describe(j))
	}
	if _, err := contact.NewEnrichments(f.q).Request(ctx, user, c.ID, nil); errs.KindOf(err) != errs.KindForbidden {
		t.Fatalf("next request: %v, want Forbidden", err)
	}
}

// TestEnrichGoogleRateLimits: Google's 403 rate-limit reasons are
// retried, no sooner than its Retry-After.
func TestEnrichGoogleRateLimits(t *testing.T) {
	t.Parallel()
	for name, fail := range map[string]sandbox.GoogleFailure{
		"403 rateLimitExceeded":     sandbox.GoogleQuotaPerMinute("people.googleapis.com", 10*time.Minute),
		"403 userRateLimitExceeded": sandbox.GoogleUserRateLimited(10 * time.Minute),
	} {
		f := newFixture(t)
		f.kit.Sandbox.AddPerson(f.addr, ada)
		c := f.contact(t, f.user, contact.Fields{Email: ptr("ada@example.com")})
		f.kit.Sandbox.FailPeopleWith(fail)
		j := f.enrich(t, f.user, c.ID)
		if j.State != queue.Failed || j.LastError == nil || *j.LastError != "Google Contacts is limiting requests; the enrichment will resume shortly" {
			t.Errorf("%s: job %s", name, describe(j))
			continue
		}
		if wait := time.Until(j.RunAt); wait < 9*time.Minute {
			t.Errorf("%s: retried in %s, before Google's Retry-After", name, wait)
		}
	}
}

// TestEnrichSkipsMarkedAccount: an enrichment queued before the account
// was marked as needing consent ends without calling Google, asking to
// reconnect.
func TestEnrichSkipsMarkedAccount(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.kit.Sandbox.AddPerson(f.addr, ada)
	c := f.contact(t, f.user, contact.Fields{Email: ptr("ada@example.com")})
	if _, err := f.pool.Exec(context.Background(), `update accounts set needs_reconsent = true where id = $1`, f.account); err != nil {
		t.Fatal(err)
	}
	j := f.enrich(t, f.user, c.ID)
	if j.State != queue.Dead || j.Attempts != 1 || j.LastError == nil || *j.LastError != google.ReconnectMessage {
		t.Fatalf("job %s", describe(j))
	}
	if n := f.kit.Sandbox.Calls("people"); n != 0 {
		t.Fatalf("%d People calls", n)
	}
}
