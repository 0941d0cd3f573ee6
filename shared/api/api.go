// Package api serves the typed route handlers over any transport: API
// Gateway HTTP API (payload v2) events in Lambda and net/http locally.
//
// A handler is a plain function from a typed input to a typed output,
// bound to its catalog entry with Handle. Binding, validation with
// per-field messages, and the OpenAPI 3.1 document all come from the same
// Go types, through huma (github.com/danielgtaylor/huma/v2). Sessions,
// request ids, logging, metrics, panics and the error envelope are handled
// here once for every route.
package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/auth"
	"github.com/personalcrm/core/shared/cache"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/errs"
	"github.com/personalcrm/core/shared/feature"
	"github.com/personalcrm/core/shared/logging"
	"github.com/personalcrm/core/shared/monitor"
)

// DefaultMaxBody is the largest request body a route accepts unless it says
// otherwise.
const DefaultMaxBody = 64 << 10

// Handler is the shape of every route handler.
type Handler[I, O any] func(ctx context.Context, in *I) (*O, error)

// Route is a handler bound to its catalog entry.
type Route struct {
	Function catalog.Function
	status   int
	maxBody  int64
	errors   []int
	document func(*huma.Operation)
	// streamDoc documents a Stream's body (Streams).
	streamDoc func(op *huma.Operation, reg huma.Registry)
	register  func(s *Server, a huma.API, op huma.Operation)
	// ahead names the cache entries the handler will read (ReadAhead).
	ahead func(ctx huma.Context, userID uuid.UUID) []cache.Lookup
}

// ReadAhead names the cache entries a Signed route's handler reads for
// user userID (from the request's path, say): when the server's sessions
// can (ReadAheader), they are read in the same round trip as the session
// entry, and the handler's GetOrLoad calls take them from the request's
// context (cache.ReadAhead).
func ReadAhead(f func(ctx huma.Context, userID uuid.UUID) []cache.Lookup) RouteOption {
	return func(r *Route) { r.ahead = f }
}

// ReadAheader is an Authenticator that can read a request's cache entries
// ahead, with its session entry, in one round trip
// (auth.CachedSessions.ReadAhead).
type ReadAheader interface {
	ReadAhead(ctx context.Context, token string, more func(userID uuid.UUID) []cache.Lookup) context.Context
}

// RouteOption adjusts how a route is served and documented.
type RouteOption func(*Route)

// Status sets the status of a successful response (default 200).
func Status(code int) RouteOption { return func(r *Route) { r.status = code } }

// MaxBody sets the largest request body the route accepts.
func MaxBody(n int64) RouteOption { return func(r *Route) { r.maxBody = n } }

// Errors documents further error statuses the route may answer.
func Errors(codes ...int) RouteOption {
	return func(r *Route) { r.errors = append(r.errors, codes...) }
}

// Document adjusts the route's entry in the API document once it is
// generated, for what the Go types cannot say (a redirect's empty body, an
// HTML page).
func Document(f func(op *huma.Operation)) RouteOption {
	return func(r *Route) { r.document = f }
}

// Handle binds h to the catalog route called name. It panics when name is
// not a route of the catalog: a programming error the first test finds.
func Handle[I, O any](name string, h Handler[I, O], opts ...RouteOption) Route {
	fn := catalog.MustLookup(name)
	if fn.Kind != catalog.Route {
		panic(fmt.Sprintf("api: %s is a %s, not a route", name, fn.Kind))
	}
	r := Route{Function: fn, maxBody: DefaultMaxBody}
	for _, o := range opts {
		o(&r)
	}
	r.register = func(s *Server, a huma.API, op huma.Operation) {
		if s.schemas != nil {
			// Serving only: the response body's schema is documentation.
			s.schemas.documentationOnly(bodyOf(reflect.TypeFor[I]()), bodyOf(reflect.TypeFor[O]()), reflect.TypeOf(huma.NewError(0, "")))
			defer s.schemas.documentationOnly(nil)
		}
		huma.Register(a, op, func(ctx context.Context, in *I) (*O, error) {
			out, err := h(ctx, in)
			if err != nil {
				return nil, toEnvelope(ctx, s.log, err)
			}
			if st, ok := any(out).(*Stream); ok && st != nil {
				st.bind(s, r.status)
			}
			return out, nil
		})
	}
	return r
}

// Authenticator resolves a session token to its principal.
// Errors: Unauthenticated for a token that is not a live session.
type Authenticator interface {
	Resolve(ctx context.Context, token string) (auth.Principal, error)
}

// Options configure a Server.
type Options struct {
	Log     *slog.Logger
	Monitor *monitor.Monitor
	// Sessions resolves tokens; required when any route is Signed.
	Sessions Authenticator
	// Cookie is the session cookie's policy: its name, and how a renewed
	// session's cookie is sent again. WithConfig sets it.
	Cookie auth.Cookie
	// TrustedOrigins are the origins besides the API's own that may send
	// cookie-authenticated unsafe requests (the web app's).
	TrustedOrigins []string
	// Features are the environment's feature gates; a signed-in request's
	// context carries its user's evaluated flags (feature.From).
	Features feature.Gates
	// Limiter enforces the routes' catalog Limits; nil enforces none.
	Limiter RateLimiter
	// Title and Version describe the API in its document.
	Title, Version string
}

// RateLimiter decides whether a caller may call a route once more. caller
// is "u:<user id>" on signed routes and "ip:<client address>" on public
// ones. Errors: RateLimited (answered 429 with Retry-After); a limiter that
// cannot decide allows the call, unless failClosed (a cost-bearing route),
// when it answers Unavailable (503, with Retry-After).
type RateLimiter interface {
	Allow(ctx context.Context, route, caller string, l catalog.Limit, failClosed bool) error
}

// Server serves a set of routes. It is an http.Handler and, through
// Lambda, an API Gateway HTTP API handler.
type Server struct {
	mux     *http.ServeMux
	api     huma.API
	log     *slog.Logger
	mon     *monitor.Monitor
	auth    Authenticator
	cookie  auth.Cookie
	csrf    *http.CrossOriginProtection
	gates   feature.Gates
	limiter RateLimiter
	routes  []Route
	// documented says the server also completes the API document: the
	// adjustments huma's generation needs (Document, Streams, no 422).
	// A server that only serves skips them, for they cost its cold start
	// (the export's stream alone, a few milliseconds of reflection).
	documented bool
	// schemas is the serving-only server's schema registry; nil when
	// documented.
	schemas *servingSchemas
	// routeOf names the route of each mux pattern a route is served at.
	routeOf map[string]string
}

// NewServer builds a server for routes.
func NewServer(o Options, routes ...Route) *Server { return newServer(o, false, routes) }

// Describe is the API document of routes, as a server with the options o
// would serve them.
func Describe(o Options, routes ...Route) *huma.OpenAPI {
	return newServer(o, true, routes).api.OpenAPI()
}

func newServer(o Options, documented bool, routes []Route) *Server {
	if o.Log == nil {
		o.Log = logging.Discard()
	}
	if o.Cookie.Name == "" {
		o.Cookie = auth.Cookie{Name: auth.CookieName}
	}
	if o.Title == "" {
		o.Title = "Personal CRM API"
	}
	if o.Version == "" {
		o.Version = "1.0.0"
	}
	s := &Server{mux: http.NewServeMux(), log: o.Log, mon: o.Monitor, auth: o.Sessions, cookie: o.Cookie,
		csrf: http.NewCrossOriginProtection(), gates: o.Features, limiter: o.Limiter, documented: documented,
		routeOf: map[string]string{}}
	for _, origin := range o.TrustedOrigins {
		if err := s.csrf.AddTrustedOrigin(origin); err != nil {
			o.Log.Warn("trusted origin ignored", "origin", origin, "err", err)
		}
	}
	cfg := humaConfig(o.Title, o.Version, o.Cookie.Name)
	if !documented {
		s.schemas = &servingSchemas{Registry: cfg.Components.Schemas}
		cfg.Components.Schemas = s.schemas
	}
	s.api = humago.New(s.mux, cfg)
	for _, r := range routes {
		s.add(r)
	}
	return s
}

func humaConfig(title, version, cookie string) huma.Config {
	cfg := huma.DefaultConfig(title, version)
	cfg.CreateHooks = nil // no $schema links in bodies
	cfg.OpenAPIPath = ""  // the openapi route serves the checked-in document
	cfg.DocsPath = ""
	cfg.SchemasPath = ""
	cfg.Info.Description = "The HTTP API of the personal CRM. Errors share one envelope: " +
		"{\"error\": {\"code\", \"message\", \"fields\"?, \"retryAfter\"?}}. Lists are {\"items\", \"nextCursor\"} with opaque keyset cursors."
	// Proprietary: the project publishes no licence for the API.
	cfg.Info.License = &huma.License{Name: "Proprietary", Identifier: "LicenseRef-Proprietary"}
	// Relative: the API is wherever it serves this document from
	// (GET /openapi.json), its AUTH_URL, which each deployment chooses.
	cfg.Servers = []*huma.Server{{URL: "/", Description: "The API that serves this document at /openapi.json"}}
	cfg.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"bearer":  {Type: "http", Scheme: "bearer", Description: "A session token"},
		"session": {Type: "apiKey", In: "cookie", Name: cookie, Description: "The session cookie set at sign-in"},
	}
	return cfg
}

func (s *Server) add(r Route) {
	fn := r.Function
	op := huma.Operation{
		OperationID:   fn.Name,
		Method:        fn.Method,
		Path:          fn.Path,
		Summary:       fn.Summary,
		Tags:          []string{fn.Tag},
		DefaultStatus: r.status,
		MaxBodyBytes:  r.maxBody,
	}
	hasBody := fn.Method == http.MethodPost || fn.Method == http.MethodPut || fn.Method == http.MethodPatch
	op.Errors = append(errorStatuses(fn.Access == catalog.Signed, hasBody, strings.Contains(fn.Path, "{")), r.errors...)
	// The pattern humago serves the operation at.
	s.routeOf[strings.ToUpper(fn.Method)+" "+fn.Path] = fn.Name
	if fn.Access == catalog.Signed && fn.Method != http.MethodGet && fn.Method != http.MethodHead {
		op.Errors = append(op.Errors, http.StatusForbidden) // cross-site cookie requests
	}
	if fn.Access == catalog.Signed {
		op.Security = []map[string][]string{{"bearer": {}}, {"session": {}}}
		op.Middlewares = append(op.Middlewares, s.authenticator(r.ahead))
	} else {
		// Public, said explicitly: a client sends no credentials.
		op.Security = []map[string][]string{}
	}
	if fn.Limit != nil {
		op.Errors = append(op.Errors, http.StatusTooManyRequests)
		if fn.CostBearing && !slices.Contains(op.Errors, http.StatusServiceUnavailable) {
			op.Errors = append(op.Errors, http.StatusServiceUnavailable) // the limiter's store is down
		}
		if s.limiter != nil {
			op.Middlewares = append(op.Middlewares, s.rateLimit(fn.Name, *fn.Limit, fn.CostBearing))
		}
	}
	r.register(s, s.api, op)
	s.routes = append(s.routes, r)
	if !s.documented {
		return
	}
	// huma documents 422 for invalid input; this API answers 400.
	if item := s.api.OpenAPI().Paths[fn.Path]; item != nil {
		for _, o := range []*huma.Operation{item.Get, item.Post, item.Put, item.Patch, item.Delete} {
			if o != nil && o.OperationID == fn.Name {
				delete(o.Responses, "422")
				if r.streamDoc != nil {
					r.streamDoc(o, s.api.OpenAPI().Components.Schemas)
				}
				if r.document != nil {
					r.document(o)
				}
			}
		}
	}
}

// HandleFunc serves a plain net/http handler at pattern, outside the typed
// routes and the API document (the local server's extras).
func (s *Server) HandleFunc(pattern string, h http.HandlerFunc) { s.mux.HandleFunc(pattern, h) }

type infoKey struct{}

// reqInfo is filled in as a request goes deeper, for its access log line.
type reqInfo struct {
	route  string
	userID string
}

// authenticate resolves the session of a Signed route's request from
// "Authorization: Bearer <token>" or the session cookie; without a live
// session the route answers 401 and its handler does not run. A
// cookie-authenticated unsafe request must come from the API's own origin
// or a trusted one (403 otherwise): browsers send cookies on cross-site
// form posts, never Bearer tokens. A renewed session's cookie is sent
// again with its new expiry. The user's evaluated feature flags go in the
// context.
//
// With ahead (ReadAhead) and sessions that can, the session entry (of the
// Bearer token or the cookie) and the entries ahead names are read from
// the cache in one round trip first. Reading ahead decides nothing:
// authenticate checks the session (and a cookie request's origin) as
// before.
func (s *Server) authenticator(ahead func(huma.Context, uuid.UUID) []cache.Lookup) func(huma.Context, func(huma.Context)) {
	ra, _ := s.auth.(ReadAheader)
	if ahead == nil || ra == nil {
		return s.authenticate
	}
	return func(ctx huma.Context, next func(huma.Context)) {
		token := bearer(ctx.Header("Authorization"))
		if token == "" {
			if c, err := huma.ReadCookie(ctx, s.cookie.Name); err == nil {
				token = c.Value
			}
		}
		if token != "" {
			hctx := ctx
			if c := ra.ReadAhead(ctx.Context(), token, func(u uuid.UUID) []cache.Lookup { return ahead(hctx, u) }); c != ctx.Context() {
				ctx = huma.WithContext(ctx, c)
			}
		}
		s.authenticate(ctx, next)
	}
}

func (s *Server) authenticate(ctx huma.Context, next func(huma.Context)) {
	token := bearer(ctx.Header("Authorization"))
	fromCookie := false
	if token == "" {
		if c, err := huma.ReadCookie(ctx, s.cookie.Name); err == nil && c.Value != "" {
			token, fromCookie = c.Value, true
		}
	}
	if token == "" || s.auth == nil {
		s.writeHumaError(ctx, errs.Unauthenticated("Authentication required"))
		return
	}
	if fromCookie {
		if err := s.sameOrigin(ctx); err != nil {
			s.writeHumaError(ctx, err)
			return
		}
	}
	p, err := s.auth.Resolve(ctx.Context(), token)
	if err != nil {
		s.writeHumaError(ctx, err)
		return
	}
	if fromCookie && p.Renewed {
		ctx.AppendHeader("Set-Cookie", s.cookie.Set(token, p.ExpiresAt).String())
	}
	userID := p.UserID.String()
	if info, ok := ctx.Context().Value(infoKey{}).(*reqInfo); ok {
		info.userID = userID
	}
	c := auth.WithPrincipal(ctx.Context(), p)
	c = feature.With(c, feature.Evaluate(s.gates, p.Features))
	c = logging.WithAttrs(c, slog.String("user_id", userID))
	next(huma.WithContext(ctx, c))
}

var errCrossSite = errs.Forbidden("Cross-site request refused: send the session as a Bearer token, or from the web app")

// sameOrigin applies net/http's cross-origin protection (Sec-Fetch-Site,
// else Origin against Host and the trusted origins) to an unsafe request,
// and also refuses one that has neither header: every browser sends Origin
// with unsafe requests, and other clients use Bearer tokens.
func (s *Server) sameOrigin(ctx huma.Context) error {
	switch ctx.Method() {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return nil
	}
	origin, site := ctx.Header("Origin"), ctx.Header("Sec-Fetch-Site")
	if origin == "" && site == "" {
		return errCrossSite
	}
	u := ctx.URL()
	r := &http.Request{Method: ctx.Method(), Host: ctx.Host(), URL: &u, Header: http.Header{}}
	if origin != "" {
		r.Header.Set("Origin", origin)
	}
	if site != "" {
		r.Header.Set("Sec-Fetch-Site", site)
	}
	if err := s.csrf.Check(r); err != nil {
		return errCrossSite
	}
	return nil
}

// rateLimit answers 429 when the caller (the signed-in user, else the
// client address) is over the route's limit, and 503 when the limit of a
// cost-bearing route cannot be enforced; the handler does not run.
func (s *Server) rateLimit(route string, l catalog.Limit, costBearing bool) func(huma.Context, func(huma.Context)) {
	return func(ctx huma.Context, next func(huma.Context)) {
		var caller string
		if p, ok := auth.From(ctx.Context()); ok {
			caller = "u:" + p.UserID.String()
		} else {
			caller = "ip:" + clientIP(ctx.RemoteAddr())
		}
		if err := s.limiter.Allow(ctx.Context(), route, caller, l, costBearing); err != nil {
			s.writeHumaError(ctx, err)
			return
		}
		next(ctx)
	}
}

// clientIP is the address of a request's client: API Gateway's source IP,
// or the peer of a direct connection without its port.
func clientIP(remote string) string {
	if host, _, err := net.SplitHostPort(remote); err == nil {
		return host
	}
	return remote
}

func (s *Server) writeHumaError(ctx huma.Context, err error) {
	env := toEnvelope(ctx.Context(), s.log, err)
	for k, v := range env.GetHeaders() {
		for _, x := range v {
			ctx.AppendHeader(k, x)
		}
	}
	b, _ := json.Marshal(env)
	ctx.SetHeader("Content-Type", "application/json")
	ctx.SetStatus(env.status)
	ctx.BodyWriter().Write(append(b, '\n'))
}

func bearer(h string) string {
	const prefix = "bearer "
	if len(h) > len(prefix) && strings.EqualFold(h[:len(prefix)], prefix) {
		return strings.TrimSpace(h[len(prefix):])
	}
	return ""
}

type requestIDKey struct{}

// withRequestID makes a transport's request id (API Gateway's) the one
// ServeHTTP uses.
func withRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// ServeHTTP serves one request: request id, access log line, metrics,
// panic recovery, and JSON answers for unknown routes and methods.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ctx := r.Context()
	id, _ := ctx.Value(requestIDKey{}).(string)
	if id == "" {
		id = clientRequestID(r.Header.Get("X-Request-Id"))
	}
	if id == "" {
		id = newRequestID()
	}
	// Handler only matches; ServeHTTP matches again below and, unlike a
	// direct call of the handler, sets the request's path values.
	h, pattern := s.mux.Handler(r)
	info := &reqInfo{route: s.routeOf[pattern]}
	ctx = context.WithValue(ctx, infoKey{}, info)
	ctx = logging.WithAttrs(ctx, slog.String("request_id", id))
	if s.mon != nil {
		// The handler's calls to Google and OpenAI are timed with it,
		// and its statements summed in the tally.
		ctx = monitor.NewContext(ctx, s.mon)
		ctx, _ = monitor.WithTally(ctx)
	}
	// The handler's context names the route too; the access log line
	// has it among its own attributes.
	if info.route != "" {
		r = r.WithContext(logging.WithAttrs(ctx, slog.String("route", info.route)))
	} else {
		r = r.WithContext(ctx)
	}
	w.Header().Set("X-Request-Id", id)
	sw := &statusWriter{ResponseWriter: w}

	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				// A response cut short on purpose: logged, and the
				// transport ends it.
				s.finish(ctx, r, sw.code(), info, time.Since(start))
				panic(p)
			}
			s.log.ErrorContext(ctx, "panic", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			if !sw.wrote {
				writeEnvelope(sw, envelopeOf(nil))
			}
		}
		s.finish(ctx, r, sw.code(), info, time.Since(start))
	}()

	if pattern == "" {
		s.noRoute(sw, r, h)
		return
	}
	s.mux.ServeHTTP(sw, r)
}

func (s *Server) finish(ctx context.Context, r *http.Request, status int, info *reqInfo, d time.Duration) {
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	attrs := []slog.Attr{
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", status),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000),
	}
	if info.route != "" {
		attrs = append(attrs, slog.String("route", info.route))
	}
	if info.userID != "" {
		attrs = append(attrs, slog.String("user_id", info.userID))
	}
	s.log.LogAttrs(ctx, level, "request", attrs...)
	if s.mon != nil {
		var fault float64
		if status >= 500 {
			fault = 1
		}
		s.mon.Emit(ctx, append([]monitor.Metric{
			{Name: "Latency", Unit: monitor.Milliseconds, Value: float64(d.Microseconds()) / 1000},
			{Name: "Fault", Unit: monitor.Count, Value: fault},
		}, monitor.TallyFrom(ctx).Metrics("Database")...)...)
	}
}

// noRoute answers a request no route matched: 405 with Allow when the path
// exists for other methods, else 404.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request, h http.Handler) {
	probe := &headerProbe{header: http.Header{}}
	h.ServeHTTP(probe, r)
	if probe.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", probe.header.Get("Allow"))
		writeEnvelope(w, &Envelope{status: http.StatusMethodNotAllowed, Body: ErrorBody{Code: CodeMethodNotAllowed, Message: "Method " + r.Method + " is not allowed here"}})
		return
	}
	writeEnvelope(w, &Envelope{status: http.StatusNotFound, Body: ErrorBody{Code: CodeNotFound, Message: "Route not found"}})
}

// headerProbe records what the mux's fallback handler would answer.
type headerProbe struct {
	header http.Header
	status int
}

func (p *headerProbe) Header() http.Header         { return p.header }
func (p *headerProbe) Write(b []byte) (int, error) { return len(b), nil }
func (p *headerProbe) WriteHeader(code int)        { p.status = code }

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.status, w.wrote = http.StatusOK, true
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) code() int {
	if !w.wrote {
		return http.StatusOK
	}
	return w.status
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// clientRequestID accepts a caller's X-Request-Id only when it is short and
// plain, so it can be logged as-is.
func clientRequestID(v string) string {
	if len(v) == 0 || len(v) > 64 {
		return ""
	}
	for _, c := range v {
		if !(c == '-' || c == '_' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return ""
		}
	}
	return v
}

func newRequestID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// servingSchemas is the schema registry of a server that only serves. huma
// builds, by reflection, the schema of every response body and error
// envelope when it registers an operation, though it validates only
// requests: for the types named documentationOnly during a registration it
// answers an empty schema instead, never kept. That was three quarters of
// a route's registration (contacts-get: 494 to 134 us, 667 to 153
// allocations), paid at every cold start.
type servingSchemas struct {
	huma.Registry
	docOnly map[reflect.Type]bool
}

// documentationOnly says the schemas of the response body and error
// envelope types are documentation until the next call, unless the
// request body is of the same type; no types ends it.
func (r *servingSchemas) documentationOnly(request reflect.Type, types ...reflect.Type) {
	r.docOnly = nil
	if len(types) == 0 {
		return
	}
	r.docOnly = map[reflect.Type]bool{}
	for _, t := range types {
		r.docOnly[deref(t)] = true
	}
	delete(r.docOnly, deref(request))
}

// bodyOf is the type of an input's or output's Body field, or nil.
func bodyOf(t reflect.Type) reflect.Type {
	t = deref(t)
	if t.Kind() == reflect.Struct {
		if f, ok := t.FieldByName("Body"); ok {
			return f.Type
		}
	}
	return nil
}

func (r *servingSchemas) Schema(t reflect.Type, allowRef bool, hint string) *huma.Schema {
	if r.docOnly[deref(t)] {
		return &huma.Schema{}
	}
	return r.Registry.Schema(t, allowRef, hint)
}

func deref(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}
