// Hello-db is the baseline of cold_request_ms: an aws-lambda-go function,
// with the SIGTERM option every function of this system uses, that answers
// its first API Gateway event by opening one pgx connection and running
// the two queries of GET /v1/contacts/{id}: the session lookup and the
// row. It is not a function of the catalog and has none of the system's
// code, so the gap between it and contacts-get is what that code costs a
// cold request.
package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/jackc/pgx/v5"
)

var conn *pgx.Conn

func handle(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	if conn == nil {
		c, err := pgx.Connect(ctx, os.Getenv("DATABASE_URL"))
		if err != nil {
			return events.APIGatewayV2HTTPResponse{}, err
		}
		conn = c
	}
	token := strings.TrimPrefix(ev.Headers["authorization"], "Bearer ")
	hash := sha256.Sum256([]byte(token))
	var sid, uid string
	var expires time.Time
	var features map[string]any
	var stale bool
	err := conn.QueryRow(ctx, `select s.id, s.user_id, s.expires_at, u.features, s.last_used_at < now() - $2::interval
		from sessions s join users u on u.id = s.user_id
		where s.token_hash = $1 and s.expires_at > now()`, hash[:], 24*time.Hour).Scan(&sid, &uid, &expires, &features, &stale)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{StatusCode: 401}, nil
	}
	id := ev.RawPath[strings.LastIndexByte(ev.RawPath, '/')+1:]
	rows, err := conn.Query(ctx, `select * from contacts where user_id = $1 and id = $2`, uid, id)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	if _, err := pgx.CollectExactlyOneRow(rows, pgx.RowToMap); err != nil {
		return events.APIGatewayV2HTTPResponse{StatusCode: 404}, nil
	}
	return events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: fmt.Sprintf(`{"id":%q}`, id)}, nil
}

func main() {
	lambda.StartWithOptions(handle, lambda.WithEnableSIGTERM(func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}))
}
