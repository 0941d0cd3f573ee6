package catalog

import (
	"sort"
	"time"
)

// CORS is what a browser page on an allowed origin may do with the API,
// with credentials: the same on API Gateway (infra) and the local server.
// The origins themselves are the deployment's (config.AllowedOrigins);
// never a wildcard, since credentials are allowed.
var CORS = struct {
	// AllowHeaders are the request headers the routes read.
	AllowHeaders []string
	// ExposeHeaders are the response headers a page may read: when to
	// retry after 429/503, and the id to quote in a support request.
	ExposeHeaders []string
	// MaxAge is how long a browser may reuse a preflight's answer.
	MaxAge time.Duration
}{
	AllowHeaders:  []string{"Authorization", "Content-Type", "X-Request-Id"},
	ExposeHeaders: []string{"Retry-After", "X-Request-Id"},
	MaxAge:        10 * time.Minute,
}

// CORSMethods are the HTTP methods of the routes, sorted.
func CORSMethods() []string {
	seen := map[string]bool{}
	var out []string
	for _, fn := range Routes() {
		if !seen[fn.Method] {
			seen[fn.Method] = true
			out = append(out, fn.Method)
		}
	}
	sort.Strings(out)
	return out
}
