package contacts_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/uuid"

	"github.com/personalcrm/core/functions/routes/contacts"
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/auth"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/domain/contact"
	"github.com/personalcrm/core/shared/logging"
	"github.com/personalcrm/core/shared/testkit"
)

// BenchmarkWarmRequest compares GET /v1/contacts/{id} served in process
// through the Lambda adapter (event decoding, session check, validation,
// query, JSON) with the same database work done with bare pgx calls: the
// session lookup and the row. It prints
//
//	warm_request_ratio 1.08 x ratio=1.08 baseline=bare_pgx
//
// Both run against the same local PostgreSQL, interleaved in rounds so
// drift in the machine's speed affects both alike.
func BenchmarkWarmRequest(b *testing.B) {
	pool := testkit.DB(b)
	ctx := context.Background()
	userID, token := testkit.User(b, pool, "bench@example.com")
	svc := contact.NewService(pool)
	c, err := svc.Create(ctx, userID, contact.Fields{Name: ptr("Ada Lovelace"), Email: ptr("ada@example.com"), Company: ptr("Analytical Engines")})
	if err != nil {
		b.Fatal(err)
	}
	srv := api.NewServer(api.Options{Log: logging.Discard(), Sessions: auth.NewSessions(pool)}, contacts.Get(svc))
	handler := srv.LambdaHandler()
	ev := testkit.Event(b, testkit.Request("GET", "/v1/contacts/"+c.ID.String(), token, nil))
	raw, err := json.Marshal(ev)
	if err != nil {
		b.Fatal(err)
	}

	viaAdapter := func(n int) {
		for i := 0; i < n; i++ {
			var in events.APIGatewayV2HTTPRequest
			if err := json.Unmarshal(raw, &in); err != nil {
				panic(err)
			}
			res, err := handler(ctx, in)
			if err != nil {
				panic(err)
			}
			if res.StatusCode != 200 {
				panic(fmt.Sprintf("status %d, want 200: %s", res.StatusCode, res.Body))
			}
			if _, err := json.Marshal(res); err != nil {
				panic(err)
			}
		}
	}
	hash := auth.HashToken(token)
	cols := db.NewTable[contact.Contact]("contacts", "contact").Columns()
	bare := func(n int) {
		for i := 0; i < n; i++ {
			// The session lookup: the session with its user's feature
			// settings, and whether it is due for renewal.
			var sid, uid uuid.UUID
			var expires time.Time
			var features map[string]any
			var stale bool
			err := pool.QueryRow(ctx, `select s.id, s.user_id, s.expires_at, u.features, s.last_used_at < now() - $2::interval
				from sessions s join users u on u.id = s.user_id
				where s.token_hash = $1 and s.expires_at > now()`, hash, auth.RenewAfter).Scan(&sid, &uid, &expires, &features, &stale)
			if err != nil {
				b.Fatal(err)
			}
			var r contact.Contact
			err = pool.QueryRow(ctx, "select "+cols+", (select count(*)::integer from event_contacts ev where ev.contact_id = c.id and ev.starts_at >= now() - interval '90 days') from contacts c where user_id = $1 and id = $2", uid, c.ID).Scan(
				&r.ID, &r.UserID, &r.Email, &r.Name, &r.Company, &r.JobTitle, &r.Phone, &r.Notes,
				&r.InteractionCount, &r.LastInteractionAt, &r.FirstInteractionAt, &r.EmailsSent, &r.EmailsReceived, &r.Meetings, &r.CreatedAt, &r.UpdatedAt, &r.SortKey,
				&r.PhotoURL, &r.EnrichedAt, &r.EnrichedFrom, &r.EnrichmentMatched, &r.MeetingsLast90Days)
			if err != nil {
				b.Fatal(err)
			}
		}
	}

	bare(200) // warm both paths and the connection pool
	viaAdapter(200)
	var adapterNs, bareNs []float64
	for round := 0; round < 7; round++ {
		bareNs = append(bareNs, nsPerOp(bare, 500))
		adapterNs = append(adapterNs, nsPerOp(viaAdapter, 500))
	}
	allocs := testing.AllocsPerRun(200, func() { viaAdapter(1) })
	a, base := medianOf(adapterNs), medianOf(bareNs)
	ratio := a / base
	fmt.Printf("warm_request_bare_pgx %.1f us\n", base/1000)
	fmt.Printf("warm_request_adapter %.1f us ratio=%.2f baseline=bare_pgx\n", a/1000, ratio)
	fmt.Printf("warm_request_ratio %.2f x ratio=%.2f baseline=bare_pgx\n", ratio, ratio)
	fmt.Printf("warm_request_allocs %.0f allocs/request\n", allocs)
	b.ReportMetric(ratio, "ratio")
}

// nsPerOp times n calls of run. The calls fail the benchmark themselves.
func nsPerOp(run func(n int), n int) float64 {
	start := time.Now()
	run(n)
	return float64(time.Since(start).Nanoseconds()) / float64(n)
}

func medianOf(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func ptr(s string) *string { return &s }
