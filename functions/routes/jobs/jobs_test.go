package jobs_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/personalcrm/core/functions/routes/jobs"
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/auth"
	"github.com/personalcrm/core/shared/domain/contact"
	"github.com/personalcrm/core/shared/queue"
	"github.com/personalcrm/core/shared/testkit"
)

type envelope struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func TestGet(t *testing.T) {
	t.Parallel()
	pool := testkit.DB(t)
	ctx := context.Background()
	srv := api.NewServer(api.Options{Sessions: auth.NewSessions(pool)}, jobs.Get(queue.NewReader(pool)))
	alice, aliceToken := testkit.User(t, pool, "alice@example.com")
	_, bobToken := testkit.User(t, pool, "bob@example.com")

	q := queue.New(pool, queue.NewMemory(queue.MemoryOptions{}), nil)
	var j queue.Job
	err := q.InTx(ctx, func(tx *queue.Tx) error {
		var err error
		j, err = tx.Enqueue(ctx, contact.ExtractionJob{UserID: alice, EmailID: uuid.New()})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// An attempt failed: the user reads why, not the operators' detail.
	claimed, _, err := queue.Claim(ctx, pool, j.ID, j.Kind, 1, 60e9)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := queue.Fail(ctx, pool, claimed, queue.Failure{RetryIn: 10e9, Message: "Gmail is unavailable", Detail: "dial tcp 10.0.0.1:443: secret-host refused"}); err != nil {
		t.Fatal(err)
	}

	for _, tr := range testkit.Transports(srv) {
		t.Run(tr.Name, func(t *testing.T) {
			res := tr.Do(t, testkit.Request("GET", "/v1/jobs/"+j.ID.String(), aliceToken, nil))
			var got jobs.Job
			raw := testkit.ReadJSON(t, res, &got)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("owner's get: %d %s", res.StatusCode, raw)
			}
			if got.ID != j.ID || got.Type != "contact-extraction" || got.State != "failed" || got.Attempts != 1 || got.MaxAttempts != 5 ||
				got.LastError == nil || *got.LastError != "Gmail is unavailable" || got.StartedAt == nil || got.FinishedAt != nil ||
				!got.RunAt.After(got.CreatedAt) {
				t.Errorf("job %s", raw)
			}
			for _, hidden := range []string{"secret-host", "payload", "emailId", "singleton", "lockedUntil"} {
				if strings.Contains(string(raw), hidden) {
					t.Errorf("response shows %q: %s", hidden, raw)
				}
			}

			for name, req := range map[string]*http.Request{
				"another user's job": testkit.Request("GET", "/v1/jobs/"+j.ID.String(), bobToken, nil),
				"no such job":        testkit.Request("GET", "/v1/jobs/"+uuid.NewString(), aliceToken, nil),
			} {
				res := tr.Do(t, req)
				var env envelope
				testkit.ReadJSON(t, res, &env)
				if res.StatusCode != http.StatusNotFound || env.Error.Code != "NOT_FOUND" || env.Error.Message != "Job not found" {
					t.Errorf("%s: %d %+v", name, res.StatusCode, env)
				}
			}
			res = tr.Do(t, testkit.Request("GET", "/v1/jobs/not-a-uuid", aliceToken, nil))
			if res.StatusCode != http.StatusBadRequest && res.StatusCode != http.StatusUnprocessableEntity {
				t.Errorf("bad id: %d", res.StatusCode)
			}
			res = tr.Do(t, testkit.Request("GET", "/v1/jobs/"+j.ID.String(), "", nil))
			if res.StatusCode != http.StatusUnauthorized {
				t.Errorf("without a session: %d", res.StatusCode)
			}
		})
	}
}

// failingReader stands for a database that is down.
type failingReader struct{}

func (failingReader) Get(context.Context, uuid.UUID, uuid.UUID) (queue.Job, error) {
	return queue.Job{}, errors.New("connection reset")
}

func TestGetHidesInternalErrors(t *testing.T) {
	t.Parallel()
	pool := testkit.DB(t)
	_, token := testkit.User(t, pool, "carol@example.com")
	srv := api.NewServer(api.Options{Sessions: auth.NewSessions(pool)}, jobs.Get(failingReader{}))
	res := testkit.Transports(srv)[0].Do(t, testkit.Request("GET", "/v1/jobs/"+uuid.NewString(), token, nil))
	var env envelope
	raw := testkit.ReadJSON(t, res, &env)
	if res.StatusCode != http.StatusInternalServerError || strings.Contains(string(raw), "connection reset") {
		t.Fatalf("internal error: %d %s", res.StatusCode, raw)
	}
}
