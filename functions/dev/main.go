// Dev runs every function of the catalog in one local process: every route
// on one HTTP server, with the same handlers the Lambdas serve. It creates
// and migrates its database at start. It is the `make dev` server, never a
// Lambda. Without a Google client id it serves a sandbox Google at
// /sandbox/google and signs in there; without an OpenAI API key AI
// analysis asks a sandbox OpenAI at /sandbox/openai. It listens on
// 127.0.0.1 unless HOST says otherwise, answers only requests addressed
// to a loopback host or AUTH_URL's host, and signs in without a password
// (POST /auth/dev-login) only while sign-in uses a sandbox Google. Its
// home page shows the signed-in person's contacts and syncs, with a page
// per contact's timeline and the API reference at /docs (home.go).
//
// It also has the operators' commands:
//
//	go run ./functions/dev flag list|enable|disable ...   feature flags of one user
//	go run ./functions/dev token-key [ID]                 a new TOKEN_KEYS entry
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/personalcrm/core/functions"
	"github.com/personalcrm/core/functions/routes/openapi"
	"github.com/personalcrm/core/functions/routes/signin"
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/auth"
	"github.com/personalcrm/core/shared/cache"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/db/migrate"
	"github.com/personalcrm/core/shared/domain/contact"
	"github.com/personalcrm/core/shared/domain/user"
	"github.com/personalcrm/core/shared/logging"
	"github.com/personalcrm/core/shared/monitor"
	"github.com/personalcrm/core/shared/platform"
	"github.com/personalcrm/core/shared/sandbox"
)

// function is the local server's stand-in catalog entry: it may use
// everything.
var function = catalog.Function{
	Name: "dev",
	Uses: []catalog.Resource{catalog.Database, catalog.Cache, catalog.Google, catalog.TokenKeys, catalog.OpenAI},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) > 1 && os.Args[1] == "flag" {
		if err := flagCommand(ctx, os.Args[2:], os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "dev flag:", err)
			os.Exit(2)
		}
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "token-key" {
		if err := tokenKeyCommand(os.Args[2:], os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "dev token-key:", err)
			os.Exit(2)
		}
		return
	}
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "dev:", err)
		os.Exit(1)
	}
}

// server is the running local system.
type server struct {
	cfg     *config.Config
	log     *slog.Logger
	pool    *db.Pool
	handler http.Handler
	// cache is the server's cache (in memory without REDIS_URL).
	cache *cache.Cache
	// sandbox is the sandbox Google the server serves, when it uses one.
	sandbox *sandbox.Google
	// openAI is the sandbox OpenAI the server serves, when it uses one.
	openAI *sandbox.OpenAI
	// jobs runs the job consumers and schedules.
	jobs *background
}

// setup prepares the database and every route.
func setup(ctx context.Context, cfg *config.Config, log *slog.Logger) (*server, error) {
	if cfg.Env == config.Production {
		return nil, errors.New("the local server does not run with APP_ENV=production")
	}
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	created, err := migrate.EnsureDatabase(cctx, cfg.DatabaseURL)
	if err != nil {
		return nil, noDatabase(cfg.DatabaseURL, err)
	}
	if created {
		log.InfoContext(ctx, "database created")
	}
	// DATABASE_URL is the schema's owner, which migrates; the server then
	// connects as the runtime role, as the deployed functions do.
	if _, err := migrate.Up(ctx, cfg.DatabaseURL, log); err != nil {
		return nil, err
	}
	appURL, err := migrate.LocalAppURL(cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	pool, err := db.Open(ctx, appURL, db.Options{Mode: db.Local})
	if err != nil {
		return nil, err
	}
	mon := monitor.New(io.Discard, log, platform.Namespace, function.Name)
	if cfg.Level <= slog.LevelDebug {
		mon = monitor.New(os.Stdout, log, platform.Namespace, function.Name)
	}
	// Without REDIS_URL the cache is in this process's memory.
	c, err := platform.OpenCache(cfg, log, mon)
	if err != nil {
		return nil, err
	}
	sandboxOpenAI := cfg.OpenAIAPIKey == ""
	app, receiver := localApp(cfg, log, mon, pool, c)
	fns, err := buildAll(app, functions.Builders)
	if err != nil {
		return nil, err
	}
	jobs := newBackground(app, receiver, fns)
	srv := api.NewServer(api.Options{Log: log, Monitor: mon, Sessions: app.Sessions, Limiter: app.Limiter}.WithConfig(cfg), fns.routes...)
	// Signing in without a password is for sandbox accounts only: with
	// the real Google, accounts hold real mail.
	if sandboxGoogle(cfg) {
		srv.HandleFunc("POST /auth/dev-login", devLogin(srv, user.NewService(pool), app.Sessions))
	}
	// Browsers on CORS_ORIGINS (a frontend dev server on another port)
	// get the CORS answers API Gateway gives in the cloud.
	s := &server{cfg: cfg, log: log, pool: pool, handler: hostGuard(cfg, srv, api.CORS(cfg.AllowedOrigins(), srv)), cache: c, jobs: jobs}
	s.sandbox = mountSandbox(srv, cfg)
	if sandboxOpenAI {
		s.openAI = mountOpenAI(srv)
	}
	// The home page, contact pages and API reference, for a browser.
	p := &pages{log: log, cookie: auth.SessionCookie(cfg.AuthURL, cfg.Env == config.Production), sessions: app.Sessions,
		users: user.NewService(pool), contacts: contact.NewService(pool), db: pool, authURL: cfg.AuthURL}
	if err := p.routes(srv, openapi.Document); err != nil {
		return nil, err
	}
	return s, nil
}

func run(ctx context.Context, out io.Writer) error {
	cfg, err := config.Load(ctx, function, config.WithEnv(localEnv(os.Environ())))
	if err != nil {
		return err
	}
	log := logging.New(os.Stderr, cfg.Level)
	s, err := setup(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer s.pool.Close()
	jobsCtx, stopJobs := context.WithCancel(ctx)
	s.jobs.start(jobsCtx)
	defer s.jobs.wait()
	defer stopJobs()

	ln, err := listen(cfg)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	fmt.Fprintf(out, "Personal CRM API on http://localhost:%d, listening on %s (routes: %d; try GET /health)\n", cfg.Port, ln.Addr(), len(catalog.Routes()))
	fmt.Fprintf(out, "Job consumers: %d, schedules: %d, in this process\n", len(s.jobs.workers), len(catalog.Schedules()))
	fmt.Fprintf(out, "Sign in with Google: open %s in a browser", signin.LoginURL(cfg.AuthURL))
	if s.sandbox != nil {
		fmt.Fprintf(out, " (the built-in sandbox Google asks for any email; set GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET for the real one)")
	}
	if s.openAI != nil {
		fmt.Fprintf(out, "\nAI analysis asks the built-in sandbox OpenAI (set OPENAI_API_KEY for the real one; FEATURE_AI_AGENTS=true and `make flag` turn it on)")
	}
	if sandboxGoogle(cfg) {
		fmt.Fprintf(out, "\nOr get a token without a browser: curl -s -X POST localhost:%d/auth/dev-login -d '{\"email\":\"you@example.com\"}'", cfg.Port)
	}
	fmt.Fprintln(out)

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	fmt.Fprintln(out, "shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return hs.Shutdown(sctx)
}

// localEnv is the process environment where the server's own URL
// (AUTH_URL, and AUTH_REDIRECT_URL, its home page) follows PORT unless set:
// sign-in redirects back to where the server listens.
func localEnv(environ []string) map[string]string {
	vars := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	port := vars[config.VarPort]
	if port == "" {
		port = "3000"
	}
	if vars[config.VarAuthURL] == "" {
		vars[config.VarAuthURL] = "http://localhost:" + port
		if vars[config.VarAuthRedirectURL] == "" {
			vars[config.VarAuthRedirectURL] = "http://localhost:" + port + "/"
		}
	}
	return vars
}

func noDatabase(url string, err error) error {
	shown := url
	if u, perr := parseURL(url); perr == nil {
		shown = u
	}
	return fmt.Errorf(`cannot reach PostgreSQL at %s: %v

The local server needs a PostgreSQL it can reach; it creates and migrates its database itself.
  - Start PostgreSQL: on Debian/Ubuntu "sudo pg_ctlcluster $(ls /etc/postgresql) main start",
    on macOS "brew services start postgresql".
  - Or point DATABASE_URL at a server where your user may create databases, e.g.
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crm_dev?sslmode=disable make dev`, shown, err)
}
