package testkit

import (
	"net/http/httptest"
	"testing"

	"github.com/personalcrm/core/shared/sandbox"
)

// StartGoogle serves a sandbox Google on a local test server, closed when
// the test ends. The server's URL overrides o.BaseURL.
func StartGoogle(t testing.TB, o sandbox.GoogleOptions) *sandbox.Google {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	o.BaseURL = "http://" + srv.Listener.Addr().String()
	g := sandbox.NewGoogle(o)
	srv.Config.Handler = g.Handler()
	srv.Start()
	t.Cleanup(srv.Close)
	return g
}

// StartOpenAI serves a sandbox OpenAI on a local test server, closed when
// the test ends. The server's URL, with /v1, overrides o.BaseURL.
func StartOpenAI(t testing.TB, o sandbox.OpenAIOptions) *sandbox.OpenAI {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	o.BaseURL = "http://" + srv.Listener.Addr().String() + "/v1"
	s := sandbox.NewOpenAI(o)
	srv.Config.Handler = s.Handler()
	srv.Start()
	t.Cleanup(srv.Close)
	return s
}
