package api_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/personalcrm/core/shared/api"
)

// TestCORS: an allowed origin gets the CORS headers with credentials, on
// preflights and on requests; any other origin gets none, and a wildcard
// is never answered.
func TestCORS(t *testing.T) {
	inner := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Request-Id", "r1")
		w.WriteHeader(http.StatusOK)
	})
	h := api.CORS([]string{"http://localhost:5173", "https://app.example.com"}, inner)
	do := func(method, origin string, hdr map[string]string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, "/v1/contacts", nil)
		r.Header.Set("Origin", origin)
		for k, v := range hdr {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	preflight := map[string]string{"Access-Control-Request-Method": "PATCH", "Access-Control-Request-Headers": "authorization,content-type"}

	w := do("OPTIONS", "https://app.example.com", preflight)
	if w.Code/100 != 2 || w.Header().Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
		w.Header().Get("Access-Control-Allow-Credentials") != "true" || w.Header().Get("Access-Control-Allow-Methods") != "PATCH" ||
		w.Header().Get("Access-Control-Max-Age") != "600" {
		t.Fatalf("preflight from an allowed origin: %d %v", w.Code, w.Header())
	}
	w = do("GET", "http://localhost:5173", nil)
	if w.Header().Get("Access-Control-Allow-Origin") != "http://localhost:5173" || w.Header().Get("Access-Control-Allow-Credentials") != "true" ||
		w.Header().Get("Access-Control-Expose-Headers") == "" {
		t.Fatalf("request from an allowed origin: %v", w.Header())
	}
	for _, origin := range []string{"https://evil.example", "http://localhost:3001", "https://app.example.com.evil.example", "null"} {
		for _, m := range []string{"OPTIONS", "GET"} {
			w := do(m, origin, preflight)
			for k := range w.Header() {
				if len(k) > 15 && k[:15] == "Access-Control-" {
					t.Errorf("%s from %s: %s: %s", m, origin, k, w.Header().Get(k))
				}
			}
		}
	}
	// No list: no CORS at all (same-origin only).
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Origin", "https://app.example.com")
	w = httptest.NewRecorder()
	api.CORS(nil, inner).ServeHTTP(w, r)
	if w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("without origins: %v", w.Header())
	}
}
