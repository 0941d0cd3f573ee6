package contacts_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"testing"

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
	handler := srv.LambdaHandler("contacts-get")
	ev := testkit.Event(b, testkit.Request("GET", "/v1/contacts/"+c.ID.String(), token, nil))
	raw, err := json.Marshal(ev)
	if err != nil {
		b.Fatal(err)
	}

	viaAdapter := func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			var in events.APIGatewayV2HTTPRequest
			if err := json.Unmarshal(raw, &in); err != nil {
				b.Fatal(err)
			}
			res, err := handler(ctx, in)
			if err != nil || res.StatusCode != 200 {
				b.Fatalf("status %d: %v %s", res.StatusCode, err, res.Body)
			}
			if _, err := json.Marshal(res); err != nil {
				b.Fatal(err)
			}
		}
	}
	hash := auth.HashToken(token)
	cols := db.NewTable[contact.Contact]("contacts", "contact").Columns()
	bare := func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			var sid, uid uuid.UUID
			if err := pool.QueryRow(ctx, `select id, user_id from sessions where token_hash = $1 and expires_at > now()`, hash).Scan(&sid, &uid); err != nil {
				b.Fatal(err)
			}
			rows, err := pool.Query(ctx, "select "+cols+" from contacts where user_id = $1 and id = $2", uid, c.ID)
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for rows.Next() {
				n++
			}
			rows.Close()
			if n != 1 {
				b.Fatal("contact not found")
			}
		}
	}

	var adapterNs, bareNs []float64
	var allocs int64
	for round := 0; round < 5; round++ {
		r := testing.Benchmark(bare)
		bareNs = append(bareNs, float64(r.NsPerOp()))
		r = testing.Benchmark(viaAdapter)
		adapterNs = append(adapterNs, float64(r.NsPerOp()))
		allocs = r.AllocsPerOp()
	}
	a, base := medianOf(adapterNs), medianOf(bareNs)
	ratio := a / base
	fmt.Printf("warm_request_bare_pgx %.1f us\n", base/1000)
	fmt.Printf("warm_request_adapter %.1f us ratio=%.2f baseline=bare_pgx\n", a/1000, ratio)
	fmt.Printf("warm_request_ratio %.2f x ratio=%.2f baseline=bare_pgx\n", ratio, ratio)
	fmt.Printf("warm_request_allocs %d allocs/request\n", allocs)
	b.ReportMetric(ratio, "ratio")
	for i := 0; i < b.N; i++ {
	}
}

func medianOf(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func ptr(s string) *string { return &s }
