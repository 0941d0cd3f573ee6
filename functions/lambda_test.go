package functions_test

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/domain/contact"
	"github.com/personalcrm/core/shared/testkit"
)

// fixture is one recorded invocation of a function and what it must answer.
type fixture struct {
	Event  json.RawMessage `json:"event"`
	Expect struct {
		// StatusCode is an API route's HTTP status.
		StatusCode int `json:"statusCode"`
		// BodyContains are substrings of the route's body.
		BodyContains []string `json:"bodyContains"`
		// Response, when set, must equal the whole response (jobs, ops).
		Response json.RawMessage `json:"response"`
	} `json:"expect"`
}

// TestBinariesUnderRIE builds every function of the catalog as it is
// deployed and invokes it once under the AWS Lambda Runtime Interface
// Emulator with its fixture from testdata/invoke, against a real database.
func TestBinariesUnderRIE(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every function")
	}
	database := testkit.NewDatabase(t)
	dbURL := database.URL
	pool, err := db.Open(context.Background(), dbURL, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	userID, token := testkit.User(t, pool, "rie@example.com")
	svc := contact.NewService(pool)
	ada, err := svc.Create(context.Background(), userID, contact.Fields{Name: ptr("Ada Lovelace"), Email: ptr("ada@example.com")})
	if err != nil {
		t.Fatal(err)
	}
	spare, err := svc.Create(context.Background(), userID, contact.Fields{Name: ptr("Spare")})
	if err != nil {
		t.Fatal(err)
	}
	replacer := strings.NewReplacer("{{token}}", token, "{{contactId}}", ada.ID.String(), "{{spareContactId}}", spare.ID.String(), "{{unknownId}}", uuid.NewString())

	for _, fn := range catalog.All() {
		t.Run(fn.Name, func(t *testing.T) {
			t.Parallel()
			raw, err := os.ReadFile(filepath.Join("testdata", "invoke", fn.Name+".json"))
			if err != nil {
				t.Fatalf("every function needs an invocation fixture: %v", err)
			}
			var fx fixture
			if err := json.Unmarshal([]byte(replacer.Replace(string(raw))), &fx); err != nil {
				t.Fatal(err)
			}
			bootstrap := testkit.BuildLambda(t, "github.com/personalcrm/core/"+fn.Dir())
			// Migrate alone connects as the schema's owner, as deployed.
			url := dbURL
			if fn.Name == catalog.Migrate {
				url = database.OwnerURL
			}
			l := testkit.RIE(t, bootstrap, map[string]string{
				"AWS_LAMBDA_FUNCTION_NAME": fn.Name,
				"APP_ENV":                  "test",
				"DATABASE_URL":             url,
				"LOG_LEVEL":                "info",
			})
			out := l.Invoke(t, fx.Event)
			if len(fx.Expect.Response) > 0 {
				if !jsonEqual(out, fx.Expect.Response) {
					t.Fatalf("response %s, want %s\nlogs:\n%s", out, fx.Expect.Response, l.Logs())
				}
				return
			}
			var res events.APIGatewayV2HTTPResponse
			if err := json.Unmarshal(out, &res); err != nil || res.StatusCode == 0 {
				t.Fatalf("not an API Gateway response: %s\nlogs:\n%s", out, l.Logs())
			}
			// The body as a client reads it: decoded, and decompressed when
			// gzip (the recorded events accept it).
			if body, err := io.ReadAll(testkit.Response(t, res).Body); err == nil {
				res.Body = string(body)
			}
			if res.StatusCode != fx.Expect.StatusCode {
				t.Fatalf("status %d, want %d: %s\nlogs:\n%s", res.StatusCode, fx.Expect.StatusCode, res.Body, l.Logs())
			}
			for _, s := range fx.Expect.BodyContains {
				if !strings.Contains(res.Body, s) {
					t.Errorf("body lacks %q: %s", s, res.Body)
				}
			}
			if res.Headers["X-Request-Id"] == "" {
				t.Errorf("no request id: %v", res.Headers)
			}
			// The function logged its request as JSON, with no secrets.
			logs := l.WaitLogs(5*time.Second, `"msg":"request"`, `"cold_start":true`)
			if !strings.Contains(logs, `"msg":"request"`) || !strings.Contains(logs, `"cold_start":true`) {
				t.Errorf("no request log line with cold_start:\n%s", logs)
			}
			if strings.Contains(logs, token) {
				t.Errorf("the session token reached the log")
			}
		})
	}
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	ja, _ := json.Marshal(x)
	jb, _ := json.Marshal(y)
	return string(ja) == string(jb)
}

func ptr(s string) *string { return &s }
