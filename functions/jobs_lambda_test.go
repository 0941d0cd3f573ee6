package functions_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/db/migrate"
	"github.com/personalcrm/core/shared/domain/contact"
	"github.com/personalcrm/core/shared/domain/email"
	"github.com/personalcrm/core/shared/queue"
	"github.com/personalcrm/core/shared/queue/worker"
	"github.com/personalcrm/core/shared/testkit"
)

// TestContactExtractionLambda runs the contact-extraction binary under the
// Lambda Runtime Interface Emulator on an SQS event received from the SQS
// emulator, twice, as Lambda's event source would deliver it.
func TestContactExtractionLambda(t *testing.T) {
	t.Parallel()
	sqs := testkit.SQS(t)
	urls, backend := sqs.JobQueues(t)
	dbURL := testkit.DatabaseURL(t)
	pool, err := db.Open(context.Background(), dbURL, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	ctx := context.Background()
	user, _ := testkit.User(t, pool, "lambda@mine.example")
	e, err := email.NewService(pool).Create(ctx, user, email.Fields{
		From: "Grace Hopper <grace@example.com>", To: "lambda@mine.example, Alan <alan@example.org>",
	})
	if err != nil {
		t.Fatal(err)
	}
	q := queue.New(pool, backend, nil)
	var j queue.Job
	err = q.InTx(ctx, func(tx *queue.Tx) error {
		var err error
		j, err = tx.Enqueue(ctx, contact.ExtractionJob{UserID: user, EmailID: e.ID})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := backend.Receive(ctx, catalog.ContactExtraction, 10, 5*time.Second)
	if err != nil || len(ds) != 1 {
		t.Fatalf("received %d messages: %v", len(ds), err)
	}
	ev, err := json.Marshal(worker.Event(catalog.ContactExtraction, ds))
	if err != nil {
		t.Fatal(err)
	}

	fn := testkit.RIE(t, testkit.BuildLambda(t, "./cmd/contact-extraction"), map[string]string{
		config.VarAppEnv:                              "test",
		config.VarDatabaseURL:                         dbURL,
		config.QueueURLVar(catalog.ContactExtraction): urls[catalog.ContactExtraction],
		"AWS_ENDPOINT_URL_SQS":                        sqs.Endpoint,
	})
	for round := range 2 {
		var res events.SQSEventResponse
		body := fn.Invoke(t, ev)
		if err := json.Unmarshal(body, &res); err != nil || len(res.BatchItemFailures) != 0 {
			t.Fatalf("round %d: response %s: %v\nlogs:\n%s", round, body, err, fn.Logs())
		}
	}
	got, err := queue.Get(ctx, pool, user, j.ID)
	if err != nil || got.State != queue.Succeeded || got.Attempts != 1 {
		t.Fatalf("job: %+v %v\nlogs:\n%s", got, err, fn.Logs())
	}
	var contacts, interactions int
	if err := pool.QueryRow(ctx, `select count(*), sum(interaction_count) from contacts where user_id = $1`, user).Scan(&contacts, &interactions); err != nil {
		t.Fatal(err)
	}
	if contacts != 2 || interactions != 2 {
		t.Fatalf("%d contacts with %d interactions, want 2 and 2", contacts, interactions)
	}
}

// TestMigrateLambda: the deploy's migration reports what it applied, and
// fails, so that the deploy fails, when it cannot migrate.
func TestMigrateLambda(t *testing.T) {
	t.Parallel()
	bootstrap := testkit.BuildLambda(t, "./cmd/migrate")
	// Migrate connects as the schema's owner, as deployed.
	empty := testkit.NewDatabase(t).OwnerURL
	pool, err := db.Open(context.Background(), empty, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	// A database that has the schema of no migration yet.
	if _, err := pool.Exec(context.Background(), `drop schema public cascade; create schema public`); err != nil {
		t.Fatal(err)
	}

	fn := testkit.RIE(t, bootstrap, map[string]string{config.VarAppEnv: "test", config.VarDatabaseURL: empty})
	body := fn.Invoke(t, []byte(`{"RequestType":"Create"}`))
	var res struct {
		Applied []int64 `json:"applied"`
	}
	latest, err := migrate.Latest()
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(body, &res); err != nil || len(res.Applied) == 0 || res.Applied[len(res.Applied)-1] != latest {
		t.Fatalf("migrate: %s: %v\nlogs:\n%s", body, err, fn.Logs())
	}

	down := testkit.RIE(t, bootstrap, map[string]string{
		config.VarAppEnv:      "test",
		config.VarDatabaseURL: "postgres://postgres@127.0.0.1:1/nowhere?sslmode=disable&connect_timeout=2",
	})
	var failure struct{ ErrorMessage, ErrorType string }
	body = down.Invoke(t, []byte(`{}`))
	if err := json.Unmarshal(body, &failure); err != nil || !strings.Contains(failure.ErrorMessage, "connect") {
		t.Fatalf("migrate without a database: %s: %v", body, err)
	}
}
