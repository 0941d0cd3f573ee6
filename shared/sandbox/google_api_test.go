package sandbox_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/personalcrm/core/shared/google"
	"github.com/personalcrm/core/shared/sandbox"
	"github.com/personalcrm/core/shared/testkit"
)

// googleErr is the body of an error of Google's APIs.
type googleErr struct {
	Error struct {
		Code    int    `json:"code"`
		Status  string `json:"status"`
		Message string `json:"message"`
		Errors  []struct {
			Reason string `json:"reason"`
		} `json:"errors"`
		Details []struct {
			Type   string `json:"@type"`
			Reason string `json:"reason"`
		} `json:"details"`
	} `json:"error"`
}

// TestSandboxGoogleAPIFailures: the sandbox's Gmail and People APIs
// refuse what Google refuses, as Google does.
func TestSandboxGoogleAPIFailures(t *testing.T) {
	t.Parallel()
	pool := testkit.DB(t)
	ctx := context.Background()
	kit := testkit.StartGoogleKit(t, pool, sandbox.GoogleOptions{})
	addr := "sandbox@mine.example"
	user, _, account := kit.Account(t, pool, addr, google.ScopeContactsReadonly)
	id := kit.Sandbox.AddMessage(addr, sandbox.GmailMessage{Snippet: "hello", Headers: [][2]string{{"Subject", "Hi"}}})
	tok, err := kit.Tokens.Token(ctx, user, account)
	if err != nil {
		t.Fatal(err)
	}
	call := func(path string) (*http.Response, googleErr) {
		t.Helper()
		req, _ := http.NewRequest("GET", kit.Sandbox.URL()+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var e googleErr
		json.NewDecoder(res.Body).Decode(&e)
		return res, e
	}

	// Contacts unticked: People refuses for the scope.
	res, e := call("/v1/people:searchContacts?query=&readMask=names")
	if res.StatusCode != http.StatusForbidden || e.Error.Status != "PERMISSION_DENIED" || len(e.Error.Errors) != 1 ||
		e.Error.Errors[0].Reason != "insufficientPermissions" || len(e.Error.Details) != 1 ||
		e.Error.Details[0].Reason != "ACCESS_TOKEN_SCOPE_INSUFFICIENT" ||
		!strings.Contains(res.Header.Get("Www-Authenticate"), "insufficient_scope") {
		t.Fatalf("people without the scope: %d %+v", res.StatusCode, e)
	}

	// A format Gmail does not know.
	if res, e := call("/gmail/v1/users/me/messages/" + id + "?format=bogus"); res.StatusCode != http.StatusBadRequest ||
		e.Error.Status != "INVALID_ARGUMENT" || !strings.Contains(e.Error.Message, "format") {
		t.Fatalf("unknown format: %d %+v", res.StatusCode, e)
	}
	if res, _ := call("/gmail/v1/users/me/messages/" + id + "?format=metadata"); res.StatusCode != http.StatusOK {
		t.Fatalf("metadata format: %d", res.StatusCode)
	}

	// Rate limits on demand, with Retry-After.
	f := sandbox.GoogleUserRateLimited(90 * time.Second)
	f.Times = 1
	kit.Sandbox.FailGmailWith(f)
	if res, e := call("/gmail/v1/users/me/profile"); res.StatusCode != http.StatusForbidden || res.Header.Get("Retry-After") != "90" ||
		len(e.Error.Errors) != 1 || e.Error.Errors[0].Reason != "userRateLimitExceeded" {
		t.Fatalf("user rate limit: %d %v %+v", res.StatusCode, res.Header, e)
	}
	kit.Sandbox.FailGmailWith(sandbox.GoogleRateLimited(5 * time.Second))
	if res, _ := call("/gmail/v1/users/me/profile"); res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") != "5" {
		t.Fatalf("429: %d %v", res.StatusCode, res.Header)
	}
	kit.Sandbox.FailGmail(0)
	if res, _ := call("/gmail/v1/users/me/profile"); res.StatusCode != http.StatusOK {
		t.Fatalf("after the failures: %d", res.StatusCode)
	}

	// A live token revoked on demand: the next call is 401.
	kit.Sandbox.RevokeAccessTokens(addr)
	if res, e := call("/gmail/v1/users/me/profile"); res.StatusCode != http.StatusUnauthorized || e.Error.Status != "UNAUTHENTICATED" ||
		!strings.Contains(res.Header.Get("Www-Authenticate"), "invalid_token") {
		t.Fatalf("revoked token: %d %+v", res.StatusCode, e)
	}
}
