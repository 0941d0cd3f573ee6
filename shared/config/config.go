// Package config reads a function's configuration from the environment once,
// at init, into a typed struct and validates it. A missing or malformed
// value stops init with one error that names every bad variable.
package config

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/sealbox"
)

// Env is the deployment environment.
type Env string

// The environments. Development and Test get local defaults; Production
// gets none and refuses development-only settings.
const (
	Development Env = "development"
	Test        Env = "test"
	Production  Env = "production"
)

// Names of the environment variables, for the infrastructure to set. This
// is the one list of them: variables maps each to its field of Config,
// where it is documented.
const (
	VarAppEnv             = "APP_ENV"
	VarLogLevel           = "LOG_LEVEL"
	VarPort               = "PORT"
	VarHost               = "HOST"
	VarDatabaseURL        = "DATABASE_URL"
	VarDatabaseIAMAuth    = "DATABASE_IAM_AUTH"
	VarDatabaseSecret     = "DATABASE_SECRET"
	VarRedisURL           = "REDIS_URL"
	VarRedisPassword      = "REDIS_PASSWORD"
	VarCacheIAMUser       = "CACHE_IAM_USER"
	VarCacheName          = "CACHE_NAME"
	VarCacheMode          = "CACHE_MODE"
	VarCacheTimeout       = "CACHE_TIMEOUT"
	VarAuthURL            = "AUTH_URL"
	VarAuthSecret         = "AUTH_SECRET"
	VarAuthRedirectURL    = "AUTH_REDIRECT_URL"
	VarSessionMaxAge      = "SESSION_MAX_AGE"
	VarCORSOrigins        = "CORS_ORIGINS"
	VarGoogleClientID     = "GOOGLE_CLIENT_ID"
	VarGoogleClientSecret = "GOOGLE_CLIENT_SECRET"
	VarGoogleWebhookURL   = "GOOGLE_WEBHOOK_URL"
	// VarGooglePushServiceAccount is the service account of the Gmail
	// push subscription, the only one whose push tokens are accepted.
	VarGooglePushServiceAccount = "GOOGLE_PUSH_SERVICE_ACCOUNT"
	// VarGooglePubSubSubscription is the Pub/Sub push subscription whose
	// deliveries the Gmail push route accepts.
	VarGooglePubSubSubscription = "GOOGLE_PUBSUB_SUBSCRIPTION"
	// VarGooglePubSubTopic is the Pub/Sub topic Gmail publishes the
	// changes of watched mailboxes to.
	VarGooglePubSubTopic = "GOOGLE_PUBSUB_TOPIC"
	VarGoogleSandboxURL  = "GOOGLE_SANDBOX_URL"
	VarTokenKeys         = "TOKEN_KEYS"
	VarOpenAIAPIKey      = "OPENAI_API_KEY"
	VarOpenAIBaseURL     = "OPENAI_BASE_URL"
	VarOpenAIModel       = "OPENAI_MODEL"
	VarFeatureAIAgents   = "FEATURE_AI_AGENTS"
	VarFeatureEnrichment = "FEATURE_ENRICHMENT"
	VarFeatureWebhooks   = "FEATURE_WEBHOOKS"
	VarJobsRetentionDays = "JOBS_RETENTION_DAYS"
	VarExtractIgnore     = "EXTRACT_IGNORE"
)

// variable is one environment variable of the list above: the field of
// Config its value goes to, and its value when unset.
type variable struct {
	name  string
	field func(*Config) any // a pointer to the field; its type decides the parsing
	def   string            // when unset, in every environment
	local string            // when unset, in development and test only
}

// variables are the variables Load parses, APP_ENV aside (it decides the
// defaults). A variable set but empty is not defaulted: it leaves its
// field zero.
func variables() []variable {
	return []variable{
		{VarLogLevel, func(c *Config) any { return &c.LogLevel }, "info", ""},
		{VarPort, func(c *Config) any { return &c.Port }, "3000", ""},
		{VarHost, func(c *Config) any { return &c.Host }, "127.0.0.1", ""},
		{VarDatabaseURL, func(c *Config) any { return &c.DatabaseURL }, "", "postgres://localhost:5432/crm_dev?sslmode=disable"},
		{VarDatabaseIAMAuth, func(c *Config) any { return &c.DatabaseIAMAuth }, "", ""},
		{VarDatabaseSecret, func(c *Config) any { return &c.DatabaseSecret }, "", ""},
		{VarRedisURL, func(c *Config) any { return &c.RedisURL }, "", ""},
		{VarRedisPassword, func(c *Config) any { return &c.RedisPassword }, "", ""},
		{VarCacheIAMUser, func(c *Config) any { return &c.CacheIAMUser }, "", ""},
		{VarCacheName, func(c *Config) any { return &c.CacheName }, "", ""},
		{VarCacheMode, func(c *Config) any { return &c.CacheMode }, CacheModeNode, ""},
		{VarCacheTimeout, func(c *Config) any { return &c.CacheTimeout }, DefaultCacheTimeout.String(), ""},
		{VarAuthURL, func(c *Config) any { return &c.AuthURL }, "", "http://localhost:3000"},
		{VarAuthSecret, func(c *Config) any { return &c.AuthSecret }, "", developmentAuthSecret},
		{VarAuthRedirectURL, func(c *Config) any { return &c.AuthRedirectURL }, "", "http://localhost:3000/"},
		{VarSessionMaxAge, func(c *Config) any { return &c.SessionMaxAge }, DefaultSessionMaxAge.String(), ""},
		{VarCORSOrigins, func(c *Config) any { return &c.CORSOrigins }, "", ""},
		{VarGoogleClientID, func(c *Config) any { return &c.GoogleClientID }, "", ""},
		{VarGoogleClientSecret, func(c *Config) any { return &c.GoogleClientSecret }, "", ""},
		{VarGoogleWebhookURL, func(c *Config) any { return &c.GoogleWebhookURL }, "", ""},
		{VarGooglePushServiceAccount, func(c *Config) any { return &c.GooglePushServiceAccount }, "", ""},
		{VarGooglePubSubSubscription, func(c *Config) any { return &c.GooglePubSubSubscription }, "", ""},
		{VarGooglePubSubTopic, func(c *Config) any { return &c.GooglePubSubTopic }, "", ""},
		{VarGoogleSandboxURL, func(c *Config) any { return &c.GoogleSandboxURL }, "", ""},
		{VarTokenKeys, func(c *Config) any { return &c.TokenKeys }, "", developmentTokenKeys},
		{VarOpenAIAPIKey, func(c *Config) any { return &c.OpenAIAPIKey }, "", ""},
		{VarOpenAIBaseURL, func(c *Config) any { return &c.OpenAIBaseURL }, "", ""},
		{VarOpenAIModel, func(c *Config) any { return &c.OpenAIModel }, DefaultOpenAIModel, ""},
		{VarFeatureAIAgents, func(c *Config) any { return &c.Features.AIAgents }, "", ""},
		{VarFeatureEnrichment, func(c *Config) any { return &c.Features.Enrichment }, "", ""},
		{VarFeatureWebhooks, func(c *Config) any { return &c.Features.Webhooks }, "", ""},
		{VarJobsRetentionDays, func(c *Config) any { return &c.JobsRetentionDays }, "30", ""},
		{VarExtractIgnore, func(c *Config) any { return &c.ExtractIgnore }, "", ""},
	}
}

// set parses s into v's field of c. Lists are comma-separated.
func (v variable) set(c *Config, s string) error {
	switch p := v.field(c).(type) {
	case *string:
		*p = s
	case *Secret:
		*p = Secret(s)
	case *[]string:
		*p = strings.Split(s, ",")
	case *bool:
		return parse(p, s, strconv.ParseBool, "boolean (true or false)")
	case *int:
		return parse(p, s, atoi32, "whole number")
	case *time.Duration:
		return parse(p, s, time.ParseDuration, "duration (like 100ms)")
	case **url.URL:
		return parse(p, s, url.Parse, "URL")
	default:
		panic(fmt.Sprintf("config: %s: no parser for %T", v.name, p))
	}
	return nil
}

func parse[T any](p *T, s string, parse func(string) (T, error), what string) error {
	v, err := parse(s)
	if err != nil {
		return errors.New("must be a valid " + what)
	}
	*p = v
	return nil
}

func atoi32(s string) (int, error) {
	n, err := strconv.ParseInt(s, 10, 32)
	return int(n), err
}

// DatabaseAppRole is the PostgreSQL role every function but migrate
// connects as: it may read and write the application's tables and nothing
// else. Migrate, connected as the schema's owner, creates it and grants it
// that after every run (shared/db/migrate).
const DatabaseAppRole = "crm_app"

// Config is everything a function reads from its environment.
type Config struct {
	Env      Env
	LogLevel string
	// Port is where the local server listens.
	Port int
	// Host is the address the local server listens on: the loopback
	// address unless set, so that no one else on the network reaches it.
	Host string

	// DatabaseURL is a PostgreSQL connection URL. With DatabaseIAMAuth the
	// password is replaced by an IAM token for each new connection.
	DatabaseURL     string
	DatabaseIAMAuth bool
	// DatabaseSecret is an RDS-generated secret of DATABASE_URL's user
	// (JSON with its username and password), for a connection that signs
	// in with a password instead of an IAM token: migrate's, as the
	// master user, where no RDS Proxy holds that secret for it. It goes
	// without DatabaseIAMAuth. DatabaseCredentials reads it.
	DatabaseSecret Secret

	// RedisURL is redis:// or rediss:// (TLS); empty means an in-memory cache.
	RedisURL      string
	RedisPassword Secret
	// CacheIAMUser and CacheName turn on ElastiCache IAM authentication
	// instead of REDIS_PASSWORD: each new connection signs in as the
	// ElastiCache user CacheIAMUser (its id, which is also its name) with
	// a token signed for the replication group or, with CacheMode
	// serverless, the serverless cache CacheName.
	CacheIAMUser string
	CacheName    string
	// CacheMode is what REDIS_URL points at: CacheModeNode (a single node
	// or a replication group's primary endpoint), CacheModeCluster (a
	// cluster-mode endpoint) or CacheModeServerless (ElastiCache
	// Serverless: cluster mode, and IAM tokens signed for a serverless
	// cache).
	CacheMode string
	// CacheTimeout bounds one cache operation: a slow cache costs a
	// request at most this long before the request goes on without it.
	CacheTimeout time.Duration

	// AuthURL is the public base URL of the API: redirects and cookies
	// are built from it.
	// The session cookie is Secure, and named with the __Host- prefix,
	// unless AuthURL is plain http on a loopback host outside production.
	AuthURL    *url.URL
	AuthSecret Secret
	// SessionMaxAge is a session's absolute lifetime: renewal by use never
	// extends a session past its creation plus this, so every session
	// ends, and its user signs in again, at the latest this long after
	// signing in. Lowering it ends older sessions at their next use.
	SessionMaxAge time.Duration
	// AuthRedirectURL is where the browser goes after signing in: the web
	// app. Cookie-authenticated writes are accepted from its origin and
	// AuthURL's.
	AuthRedirectURL *url.URL
	// CORSOrigins are further web apps' origins that may call the API
	// from a browser with credentials (see AllowedOrigins).
	CORSOrigins []string

	// Without a client id (outside production) sign-in goes to the sandbox
	// Google of the local server.
	GoogleClientID     string
	GoogleClientSecret Secret
	GoogleWebhookURL   *url.URL
	// GooglePushServiceAccount, when set, is the only service account
	// whose Gmail push tokens are accepted.
	GooglePushServiceAccount string
	// GooglePubSubSubscription (projects/<project>/subscriptions/<name>),
	// when set, is the only push subscription whose deliveries the Gmail
	// push route accepts. Production requires it, and
	// GooglePushServiceAccount, when GoogleWebhookURL is set.
	GooglePubSubSubscription string
	// GooglePubSubTopic (projects/<project>/topics/<topic>) is where
	// gmail-watch asks Gmail to publish mailbox changes; unset, it watches
	// nothing.
	GooglePubSubTopic string
	// GoogleSandboxURL is the base URL of a sandbox Google to use instead
	// of Google's endpoints (development and test only; production refuses
	// it). Unset, a sandbox is looked for at AuthURL + /sandbox/google.
	GoogleSandboxURL *url.URL

	// TokenKeys encrypt provider tokens at rest: a comma-separated list of
	// id:key entries, newest first, each key 32 random bytes in base64
	// ("k2:BASE64,k1:BASE64"). Values are sealed with the first key and
	// opened with whichever listed key sealed them; to rotate, put a new
	// key first and keep the old ones until nothing is sealed with them.
	TokenKeys Secret

	// OpenAIAPIKey is the OpenAI API key. Without one (outside
	// production) the local server serves a sandbox OpenAI.
	OpenAIAPIKey Secret
	// OpenAIBaseURL replaces OpenAI's API base URL (with its /v1), for a
	// compatible endpoint or a proxy.
	OpenAIBaseURL *url.URL
	// OpenAIModel is the chat model AI analysis asks.
	OpenAIModel string

	// Features gate features for everyone: off here is off for every user.
	Features Features

	// QueueURLs maps a job type to its SQS queue URL, from the variables
	// QUEUE_URL_<TYPE> (see QueueURLVar). Empty: the in-memory queue.
	QueueURLs map[string]string
	// JobsRetentionDays is how long finished jobs are kept.
	JobsRetentionDays int
	// ExtractIgnore are address patterns (path.Match globs, such as
	// "*@notifications.example.com") contact extraction skips, besides its
	// built-in list of automated senders.
	ExtractIgnore []string

	// Level is LogLevel parsed.
	Level slog.Level
	// Function is the catalog entry the configuration was loaded for.
	Function catalog.Function
}

// Features are the environment gates of the feature flags.
type Features struct {
	AIAgents   bool
	Enrichment bool
	Webhooks   bool
}

// Secret is a configuration value that must never be printed. Its fmt
// forms (every verb, %#v included), its slog and its JSON forms are
// redacted; Reveal returns the value.
type Secret string

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// String returns a placeholder, so formatting a Config leaks nothing.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[REDACTED]"
}

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText implements encoding.TextMarshaler with the placeholder.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Format implements fmt.Formatter with the placeholder for every verb:
// without it, %#v and verbs that do not suit a string (%d) print the
// value.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		fmt.Fprintf(f, "%q", s.String())
		return
	}
	f.Write([]byte(s.String()))
}

// Lambda reports whether the process runs inside AWS Lambda.
func Lambda() bool { return os.Getenv("AWS_LAMBDA_RUNTIME_API") != "" }

// Problem is one bad variable.
type Problem struct {
	Var     string
	Message string
}

// Error lists every bad variable found by Load.
type Error struct {
	Function string
	Problems []Problem
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "config for %s: %d bad variable", e.Function, len(e.Problems))
	if len(e.Problems) != 1 {
		b.WriteString("s")
	}
	for _, p := range e.Problems {
		fmt.Fprintf(&b, "; %s: %s", p.Var, p.Message)
	}
	return b.String()
}

// SecretResolver fetches the value of a secret named by reference (in AWS,
// a Secrets Manager ARN).
type SecretResolver interface {
	ResolveSecret(ctx context.Context, ref string) (string, error)
}

// Option changes how Load reads the configuration.
type Option func(*loader)

type loader struct {
	environ  map[string]string
	resolver SecretResolver
}

// WithEnv makes Load read vars instead of the process environment.
func WithEnv(vars map[string]string) Option {
	return func(l *loader) { l.environ = vars }
}

// WithSecrets resolves secret variables whose value is a Secrets Manager
// ARN through r, which is not called when no variable holds one. Without
// it, such a variable is a configuration error.
func WithSecrets(r SecretResolver) Option {
	return func(l *loader) { l.resolver = r }
}

// Load reads and validates the configuration of fn. It returns an *Error
// Load reads and validates the configuration of fn. It returns an *Error
// naming every bad variable; nothing else is returned on bad input.
func Load(ctx context.Context, fn catalog.Function, opts ...Option) (*Config, error) {
	l := loader{}
	for _, o := range opts {
		o(&l)
	}
	vars := map[string]string{}
	if l.environ == nil {
		for _, kv := range os.Environ() {
			k, v, _ := strings.Cut(kv, "=")
			vars[k] = strings.TrimSpace(v)
		}
	}
	for k, v := range l.environ {
		vars[k] = strings.TrimSpace(v)
	}

	var problems problemList
	cfg := &Config{Env: Env(vars[VarAppEnv]), Function: fn}
	switch cfg.Env {
	case "":
		cfg.Env = Development
	case Development, Test, Production:
	default:
		problems.add(VarAppEnv, fmt.Sprintf("must be development, test or production, not %q", cfg.Env))
		cfg.Env = Production // judge the rest strictly
	}
	for _, v := range variables() {
		s, ok := vars[v.name]
		switch {
		case ok:
		case v.local != "" && cfg.Env != Production:
			s = v.local
		default:
			s = v.def
		}
		if s == "" {
			continue
		}
		if err := v.set(cfg, s); err != nil {
			problems.add(v.name, err.Error())
		}
	}

	if l.resolver != nil {
		resolveSecrets(ctx, cfg, l.resolver, &problems)
	} else {
		unresolvedSecrets(cfg, &problems)
	}
	validate(cfg, vars, &problems)

	if len(problems) > 0 {
		problems.sort()
		return nil, &Error{Function: fn.Name, Problems: problems}
	}
	return cfg, nil
}

// for a service account of their own), and its subscription.
func validatePush(cfg *Config, p *problemList) {
	prod := cfg.Env == Production
	if cfg.GoogleWebhookURL != nil {
		checkHTTPURL(VarGoogleWebhookURL, cfg.GoogleWebhookURL, prod, p)
	}
	if sa := cfg.GooglePushServiceAccount; sa != "" && !ValidServiceAccount(sa) {
		p.add(VarGooglePushServiceAccount, "must be a service account's email address, like push@project.iam.gserviceaccount.com")
	}
	if sub := cfg.GooglePubSubSubscription; sub != "" && !ValidSubscription(sub) {
		p.add(VarGooglePubSubSubscription, "must be projects/<project>/subscriptions/<subscription>")
	}
	if prod && cfg.GoogleWebhookURL != nil {
		if cfg.GooglePushServiceAccount == "" {
			p.add(VarGooglePushServiceAccount, "required in production with GOOGLE_WEBHOOK_URL: only the push subscription's service account may start syncs")
		}
		if cfg.GooglePubSubSubscription == "" {
			p.add(VarGooglePubSubSubscription, "required in production with GOOGLE_WEBHOOK_URL: only that subscription's deliveries are accepted")
		}
	}
}

// ValidServiceAccount reports whether s looks like a Google service
// account's email address: one @, no spaces, a dot in the domain.
func ValidServiceAccount(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	return ok && local != "" && strings.Contains(domain, ".") && !strings.ContainsAny(domain, "@") &&
		!strings.ContainsAny(s, " \t\r\n,<>") && len(s) <= 254
}

// ValidSubscription reports whether s is a Pub/Sub subscription's full
// name: projects/<project>/subscriptions/<name>, by the same rules as a
// topic's.
func ValidSubscription(s string) bool { return validPubSubName(s, "subscriptions") }

// validTopic reports whether s is a Pub/Sub topic's full name: a project id (or a
// domain-scoped one, example.com:project) and a topic name of 3 to 255
// characters that starts with a letter and does not start with "goog".
func validTopic(s string) bool { return validPubSubName(s, "topics") }

// validPubSubName reports whether s is projects/<project>/<collection>/<name>:
// a project id of 6 to 30 lower-case letters, digits and hyphens that
// starts with a letter and does not end with a hyphen, optionally after a
// domain and a colon (example.com:project); a name of 3 to 255 letters,
// digits and -_.~+% that starts with a letter and not with "goog". It is
// checked by hand rather than by a regular expression: compiling one with
// a {2,254} repetition costs every function a millisecond at start-up.
func validPubSubName(s, collection string) bool {
	rest, ok := strings.CutPrefix(s, "projects/")
	if !ok {
		return false
	}
	project, rest, ok := strings.Cut(rest, "/")
	if !ok {
		return false
	}
	name, ok := strings.CutPrefix(rest, collection+"/")
	if !ok || !validProjectID(project) || len(name) < 3 || len(name) > 255 || !isLetter(name[0]) ||
		strings.HasPrefix(strings.ToLower(name), "goog") {
		return false
	}
	for i := 1; i < len(name); i++ {
		if c := name[i]; !isLetter(c) && !isDigit(c) && !strings.ContainsRune("-_.~+%", rune(c)) {
			return false
		}
	}
	return true
}

// validProjectID reports whether p is a Google Cloud project id, or a
// domain-scoped one (example.com:project).
func validProjectID(p string) bool {
	if domain, id, scoped := strings.Cut(p, ":"); scoped {
		if domain == "" {
			return false
		}
		for i := 0; i < len(domain); i++ {
			if c := domain[i]; !isLower(c) && !isDigit(c) && c != '.' && c != '-' {
				return false
			}
		}
		p = id
	}
	if len(p) < 6 || len(p) > 30 || !isLower(p[0]) || (!isLower(p[len(p)-1]) && !isDigit(p[len(p)-1])) {
		return false
	}
	for i := 1; i < len(p)-1; i++ {
		if c := p[i]; !isLower(c) && !isDigit(c) && c != '-' {
			return false
		}
	}
	return true
}

func isLower(c byte) bool  { return 'a' <= c && c <= 'z' }
func isLetter(c byte) bool { return isLower(c) || ('A' <= c && c <= 'Z') }
func isDigit(c byte) bool  { return '0' <= c && c <= '9' }

// DefaultCacheTimeout is CACHE_TIMEOUT when unset: far above a healthy
// ElastiCache round trip (well under a millisecond in the same VPC), far
// below what a request can afford to lose.
const DefaultCacheTimeout = 100 * time.Millisecond

// DefaultSessionMaxAge is SESSION_MAX_AGE when unset: 30 days.
const DefaultSessionMaxAge = 30 * 24 * time.Hour

// Bounds of SESSION_MAX_AGE.
const (
	minSessionMaxAge = time.Hour
	maxSessionMaxAge = 365 * 24 * time.Hour
)

// DefaultOpenAIModel is OPENAI_MODEL when unset: a small, inexpensive
// model that answers in JSON mode.
const DefaultOpenAIModel = "gpt-4o-mini"

// SandboxOpenAIKey is the API key of the local server's sandbox OpenAI;
// production refuses it.
const SandboxOpenAIKey = "sk-sandbox-development-only"

// SandboxGoogleClientSecret is the client secret of the sandbox Google's
// client; production refuses it.
const SandboxGoogleClientSecret = "sandbox-client-secret"

// The development defaults of AUTH_SECRET and TOKEN_KEYS, which anyone can
// read in this repository.
const (
	developmentAuthSecret = "development-only-auth-secret-not-for-production"
	developmentTokenKeys  = "dev1:ZGV2ZWxvcG1lbnQtb25seS10b2tlbi1rZXktMzJieXQ="
)

// refuseDevelopmentSecrets refuses, in production, a secret that is a
// development value or a small edit of one: one that contains a
// development value, in any case (the development AUTH_SECRET plus a
// character), or is a long part of one; and a TOKEN_KEYS ring any of
// whose keys, whatever its id or place in the ring, decodes to the bytes
// of a development key ("prod:<the development key>"). Messages never
// quote the value.
func refuseDevelopmentSecrets(cfg *Config, p *problemList) {
	devRing, _ := sealbox.ParseRing(developmentTokenKeys)
	devSecrets := []string{developmentAuthSecret, developmentTokenKeys, SandboxOpenAIKey, SandboxGoogleClientSecret}
	for _, k := range devRing {
		devSecrets = append(devSecrets, string(k.Key)) // the key's bytes, written out as a secret
	}
	for _, s := range secretFields(cfg) {
		v := strings.ToLower(s.value.Reveal())
		if v == "" {
			continue
		}
		for _, dev := range devSecrets {
			dev = strings.ToLower(dev)
			if strings.Contains(v, dev) || len(v) >= 16 && strings.Contains(dev, v) {
				p.add(s.name, "holds a development default (or the sandbox's), or a variation of one; set a real secret in production")
				break
			}
		}
	}
	ring, err := sealbox.ParseRing(cfg.TokenKeys.Reveal())
	if err != nil {
		return // reported as malformed
	}
	for i, k := range ring {
		for _, dev := range devRing {
			if subtle.ConstantTimeCompare(k.Key, dev.Key) == 1 {
				p.add(VarTokenKeys, fmt.Sprintf("entry %d (%q) is the development default key under another name; set real keys in production", i+1, k.ID))
			}
		}
	}
}

type problemList []Problem

func (p *problemList) add(v, msg string) {
	for _, q := range *p {
		if q.Var == v {
			return // the first problem of a variable is enough
		}
	}
	*p = append(*p, Problem{Var: v, Message: msg})
}

func (p problemList) has(v string) bool {
	for _, q := range p {
		if q.Var == v {
			return true
		}
	}
	return false
}

func (p problemList) sort() {
	sort.SliceStable(p, func(i, j int) bool { return p[i].Var < p[j].Var })
}

func validate(cfg *Config, vars map[string]string, p *problemList) {
	prod := cfg.Env == Production
	fn := cfg.Function
	require := func(v string, ok bool) {
		if !ok {
			p.add(v, "required")
		}
	}

	if lvl, err := parseLevel(cfg.LogLevel); err != nil {
		p.add(VarLogLevel, err.Error())
	} else {
		cfg.Level = lvl
	}
	if cfg.Port < 1 || cfg.Port > 65535 {
		p.add(VarPort, "must be a port number between 1 and 65535")
	}

	if fn.Needs(catalog.Database) {
		require(VarDatabaseURL, cfg.DatabaseURL != "")
	}
	if cfg.DatabaseURL != "" {
		checkDatabaseURL(cfg.DatabaseURL, prod, p)
		if cfg.DatabaseIAMAuth && !tlsMode(cfg.DatabaseURL) && !p.has(VarDatabaseURL) {
			p.add(VarDatabaseIAMAuth, "sends an IAM token as the password, so DATABASE_URL must set sslmode=require, verify-ca or verify-full")
		}
	}
	checkDatabaseSecret(cfg, p)

	validateCache(cfg, p)
	if cfg.CacheTimeout < time.Millisecond || cfg.CacheTimeout > 5*time.Second {
		p.add(VarCacheTimeout, "must be a duration between 1ms and 5s, like 100ms")
	}

	if cfg.AuthURL != nil {
		checkHTTPURL(VarAuthURL, cfg.AuthURL, prod, p)
	} else if fn.Needs(catalog.Google) {
		p.add(VarAuthURL, "required")
	}
	// Signed routes that cache sessions authenticate the cached entries
	// with a key derived from AUTH_SECRET.
	if fn.Needs(catalog.Google) || fn.CachesSessions() {
		require(VarAuthSecret, cfg.AuthSecret != "")
	}
	if fn.Needs(catalog.Google) {
		if prod {
			require(VarGoogleClientID, cfg.GoogleClientID != "")
			require(VarGoogleClientSecret, cfg.GoogleClientSecret != "")
		}
	}
	if cfg.SessionMaxAge < minSessionMaxAge || cfg.SessionMaxAge > maxSessionMaxAge {
		p.add(VarSessionMaxAge, "must be a duration between 1h and 8760h (365 days), like 720h")
	}
	if cfg.AuthSecret != "" && len(cfg.AuthSecret) < 32 {
		p.add(VarAuthSecret, "must be at least 32 characters")
	}
	if (cfg.GoogleClientID == "") != (cfg.GoogleClientSecret == "") {
		if cfg.GoogleClientID == "" {
			p.add(VarGoogleClientID, "required when GOOGLE_CLIENT_SECRET is set")
		} else {
			p.add(VarGoogleClientSecret, "required when GOOGLE_CLIENT_ID is set")
		}
	}
	validatePush(cfg, p)
	if cfg.GooglePubSubTopic != "" && !validTopic(cfg.GooglePubSubTopic) {
		p.add(VarGooglePubSubTopic, "must be projects/<project>/topics/<topic>")
	}
	if cfg.AuthRedirectURL != nil {
		checkHTTPURL(VarAuthRedirectURL, cfg.AuthRedirectURL, prod, p)
	} else if prod && fn.Needs(catalog.Google) {
		p.add(VarAuthRedirectURL, "required in production")
	}
	validateOrigins(cfg, p)
	if cfg.GoogleSandboxURL != nil {
		if prod {
			p.add(VarGoogleSandboxURL, "is for development and test only; production uses Google")
		} else {
			checkHTTPURL(VarGoogleSandboxURL, cfg.GoogleSandboxURL, prod, p)
		}
	}

	if fn.Needs(catalog.TokenKeys) {
		require(VarTokenKeys, cfg.TokenKeys != "")
	}
	if cfg.TokenKeys != "" && !strings.HasPrefix(cfg.TokenKeys.Reveal(), secretPrefix) {
		if _, err := sealbox.ParseKeys(cfg.TokenKeys.Reveal()); err != nil {
			p.add(VarTokenKeys, "must be comma-separated id:base64key entries, newest first, each key 32 bytes: "+err.Error())
		}
	}
	if prod {
		refuseDevelopmentSecrets(cfg, p)
	}

	validateOpenAI(cfg, p)
	validateJobs(cfg, vars, p)
}

func validateOpenAI(cfg *Config, p *problemList) {
	prod := cfg.Env == Production
	if cfg.Function.Needs(catalog.OpenAI) && prod && cfg.OpenAIAPIKey == "" {
		p.add(VarOpenAIAPIKey, "required")
	}
	if cfg.OpenAIBaseURL != nil {
		checkHTTPURL(VarOpenAIBaseURL, cfg.OpenAIBaseURL, prod, p)
	}
	if !validModel(cfg.OpenAIModel) {
		p.add(VarOpenAIModel, "must be a model name of 1 to 100 letters, digits and . - _ : / (like gpt-4o-mini)")
	}
}

// validModel reports whether s looks like an OpenAI model name, fine-tuned
// ones ("ft:gpt-4o-mini:org::id") included.
func validModel(s string) bool {
	if s == "" || len(s) > 100 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(".-_:/", r)) {
			return false
		}
	}
	return true
}

// CacheIAMAuth reports whether the cache signs in with ElastiCache IAM
// authentication (CACHE_IAM_USER and CACHE_NAME).
func (c *Config) CacheIAMAuth() bool { return c.CacheIAMUser != "" && c.CacheName != "" }

// The values of CACHE_MODE.
const (
	CacheModeNode       = "node"
	CacheModeCluster    = "cluster"
	CacheModeServerless = "serverless"
)

// CacheCluster reports whether REDIS_URL is a cluster-mode endpoint.
func (c *Config) CacheCluster() bool {
	return c.CacheMode == CacheModeCluster || c.CacheMode == CacheModeServerless
}

// CacheServerless reports whether the cache is ElastiCache Serverless.
func (c *Config) CacheServerless() bool { return c.CacheMode == CacheModeServerless }

func validateCache(cfg *Config, p *problemList) {
	prod := cfg.Env == Production
	tls := false
	if cfg.RedisURL != "" {
		u, err := url.Parse(cfg.RedisURL)
		switch {
		case err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "":
			p.add(VarRedisURL, "must be a redis:// or rediss:// URL with a host")
		case prod && u.Scheme != "rediss":
			p.add(VarRedisURL, "must use TLS (rediss://) in production")
		default:
			tls = u.Scheme == "rediss"
		}
		if db := strings.Trim(u.Path, "/"); err == nil && cfg.CacheCluster() && db != "" && db != "0" {
			p.add(VarRedisURL, "must name database 0 or none with CACHE_MODE="+cfg.CacheMode+": a cluster has only database 0")
		}
	} else if prod && cfg.Function.Needs(catalog.Cache) {
		p.add(VarRedisURL, "required in production")
	}
	switch cfg.CacheMode {
	case CacheModeNode, CacheModeCluster:
	case CacheModeServerless:
		if cfg.RedisURL != "" && !tls && !p.has(VarRedisURL) {
			p.add(VarCacheMode, "serverless: ElastiCache Serverless speaks TLS only, so REDIS_URL must use rediss://")
		}
	default:
		p.add(VarCacheMode, "must be node, cluster or serverless")
	}

	iam := cfg.CacheIAMUser != "" || cfg.CacheName != ""
	switch {
	case cfg.CacheIAMUser == "" && cfg.CacheName != "":
		p.add(VarCacheIAMUser, "required with CACHE_NAME: the ElastiCache user (id and name) to sign in as")
	case cfg.CacheIAMUser != "" && !elastiCacheID(cfg.CacheIAMUser, false):
		p.add(VarCacheIAMUser, "must be an ElastiCache user id: a letter, then letters, digits and single hyphens, not ending with a hyphen")
	}
	switch {
	case cfg.CacheName == "" && cfg.CacheIAMUser != "":
		p.add(VarCacheName, "required with CACHE_IAM_USER: the replication group id (or serverless cache name) IAM tokens are signed for")
	case cfg.CacheName != "" && !elastiCacheID(cfg.CacheName, true):
		p.add(VarCacheName, "must be a replication group id or serverless cache name: 1-40 lower-case letters, digits and single hyphens, starting with a letter, not ending with a hyphen")
	}
	if iam && cfg.RedisURL != "" && !tls && !p.has(VarRedisURL) && !p.has(VarCacheIAMUser) {
		p.add(VarCacheIAMUser, "sends an IAM token as the password, so REDIS_URL must use TLS (rediss://)")
	}
	if iam && cfg.RedisPassword != "" {
		p.add(VarRedisPassword, "must be unset with CACHE_IAM_USER: the cache signs in with IAM tokens instead")
	}
	if prod && cfg.Function.Needs(catalog.Cache) && !iam && cfg.RedisPassword == "" {
		p.add(VarCacheIAMUser, "required in production, with CACHE_NAME, unless REDIS_PASSWORD is set: the cache must authenticate")
	}
}

// elastiCacheID reports whether s is a valid ElastiCache user id or, with
// group, replication group id (which ElastiCache stores in lower case, and
// the token must name as stored).
func elastiCacheID(s string, group bool) bool {
	if s == "" || (group && len(s) > 40) || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') ||
		strings.HasSuffix(s, "-") || strings.Contains(s, "--") {
		return false
	}
	for _, r := range s {
		lower := r >= 'a' && r <= 'z'
		if !(lower || r >= '0' && r <= '9' || r == '-' || !group && r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

func parseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info", "":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("must be debug, info, warn or error, not %q", s)
}

// DatabaseCredentials are the user and password DatabaseSecret holds.
type DatabaseCredentials struct {
	Username string `json:"username"`
	Password Secret `json:"password"`
}

// DatabaseCredentials reads DatabaseSecret; ok is false without one.
func (c *Config) DatabaseCredentials() (creds DatabaseCredentials, ok bool, err error) {
	if c.DatabaseSecret == "" {
		return DatabaseCredentials{}, false, nil
	}
	if err := json.Unmarshal([]byte(c.DatabaseSecret.Reveal()), &creds); err != nil || creds.Username == "" || creds.Password == "" {
		// The value is never quoted: it is the password.
		return DatabaseCredentials{}, false, errors.New("must be a JSON object with a username and a password (an RDS-generated secret)")
	}
	return creds, true, nil
}

// checkDatabaseSecret: a password secret is of DATABASE_URL's user, sent
// over TLS, and not mixed with IAM tokens.
func checkDatabaseSecret(cfg *Config, p *problemList) {
	if cfg.DatabaseSecret == "" || IsSecretRef(cfg.DatabaseSecret.Reveal()) {
		return // unset, or already reported as unresolved
	}
	creds, _, err := cfg.DatabaseCredentials()
	switch {
	case err != nil:
		p.add(VarDatabaseSecret, err.Error())
	case cfg.DatabaseIAMAuth:
		p.add(VarDatabaseSecret, "signs in with a password, DATABASE_IAM_AUTH with IAM tokens: set one of them")
	case cfg.DatabaseURL == "" || p.has(VarDatabaseURL):
	case !tlsMode(cfg.DatabaseURL):
		p.add(VarDatabaseSecret, "is a password, so DATABASE_URL must set sslmode=require, verify-ca or verify-full")
	default:
		if u, err := url.Parse(cfg.DatabaseURL); err == nil && u.User.Username() != creds.Username {
			p.add(VarDatabaseSecret, fmt.Sprintf("is the secret of user %q, DATABASE_URL names %q", creds.Username, u.User.Username()))
		}
	}
}

func checkDatabaseURL(raw string, prod bool, p *problemList) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		p.add(VarDatabaseURL, "must be a postgres:// URL")
		return
	}
	if u.Host == "" && u.Query().Get("host") == "" {
		p.add(VarDatabaseURL, "must name a host")
		return
	}
	if prod && !tlsMode(raw) {
		p.add(VarDatabaseURL, "must set sslmode=require, verify-ca or verify-full in production")
	}
}

// tlsMode reports whether a database URL's sslmode never connects in
// plain text.
func tlsMode(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	switch u.Query().Get("sslmode") {
	case "require", "verify-ca", "verify-full":
		return true
	}
	return false
}

func checkHTTPURL(name string, u *url.URL, prod bool, p *problemList) {
	switch {
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		p.add(name, "must be an absolute http(s) URL")
	case prod && u.Scheme != "https":
		p.add(name, "must use https in production")
	}
}

// TokenBox is the key ring of TokenKeys, which seals and opens provider
// tokens. Errors (TOKEN_KEYS unset or malformed) name the variable and
// never hold key material.
func (c *Config) TokenBox() (*sealbox.Box, error) {
	box, err := sealbox.ParseKeys(c.TokenKeys.Reveal())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", VarTokenKeys, err)
	}
	return box, nil
}
