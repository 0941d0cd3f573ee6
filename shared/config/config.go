// Package config reads a function's configuration from the environment once,
// at init, into a typed struct and validates it. A missing or malformed
// value stops init with one error that names every bad variable.
package config

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

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

// Names of the environment variables, for the infrastructure to set.
const (
	VarAppEnv             = "APP_ENV"
	VarLogLevel           = "LOG_LEVEL"
	VarPort               = "PORT"
	VarHost               = "HOST"
	VarDatabaseURL        = "DATABASE_URL"
	VarDatabaseIAMAuth    = "DATABASE_IAM_AUTH"
	VarRedisURL           = "REDIS_URL"
	VarRedisPassword      = "REDIS_PASSWORD"
	VarCacheIAMUser       = "CACHE_IAM_USER"
	VarCacheName          = "CACHE_NAME"
	VarCacheTimeout       = "CACHE_TIMEOUT"
	VarAuthURL            = "AUTH_URL"
	VarAuthSecret         = "AUTH_SECRET"
	VarAuthRedirectURL    = "AUTH_REDIRECT_URL"
	VarSessionMaxAge      = "SESSION_MAX_AGE"
	VarGoogleClientID     = "GOOGLE_CLIENT_ID"
	VarGoogleClientSecret = "GOOGLE_CLIENT_SECRET"
	VarGoogleWebhookURL   = "GOOGLE_WEBHOOK_URL"
	// VarGooglePushServiceAccount is the service account of the Gmail
	// push subscription, the only one whose push tokens are accepted.
	VarGooglePushServiceAccount = "GOOGLE_PUSH_SERVICE_ACCOUNT"
	VarGoogleSandboxURL         = "GOOGLE_SANDBOX_URL"
	VarTokenKeys                = "TOKEN_KEYS"
	VarOpenAIAPIKey             = "OPENAI_API_KEY"
	VarOpenAIBaseURL            = "OPENAI_BASE_URL"
	VarOpenAIModel              = "OPENAI_MODEL"
	VarFeatureAIAgents          = "FEATURE_AI_AGENTS"
	VarFeatureEnrichment        = "FEATURE_ENRICHMENT"
	VarFeatureWebhooks          = "FEATURE_WEBHOOKS"
	VarJobsRetentionDays        = "JOBS_RETENTION_DAYS"
	VarExtractIgnore            = "EXTRACT_IGNORE"
)

// VarGooglePubSubTopic is the Pub/Sub topic Gmail publishes the changes of
// watched mailboxes to.
const VarGooglePubSubTopic = "GOOGLE_PUBSUB_TOPIC"

// VarGooglePubSubSubscription is the Pub/Sub push subscription whose
// deliveries the Gmail push route accepts.
const VarGooglePubSubSubscription = "GOOGLE_PUBSUB_SUBSCRIPTION"

// DatabaseAppRole is the PostgreSQL role every function but migrate
// connects as: it may read and write the application's tables and nothing
// else. Migrate, connected as the schema's owner, creates it and grants it
// that after every run (shared/db/migrate).
const DatabaseAppRole = "crm_app"

// Config is everything a function reads from its environment.
type Config struct {
	Env      Env    `env:"APP_ENV"`
	LogLevel string `env:"LOG_LEVEL"`
	// Port is where the local server listens.
	Port int `env:"PORT"`
	// Host is the address the local server listens on: the loopback
	// address unless set, so that no one else on the network reaches it.
	Host string `env:"HOST"`

	// DatabaseURL is a PostgreSQL connection URL. With DatabaseIAMAuth the
	// password is replaced by an IAM token for each new connection.
	DatabaseURL     string `env:"DATABASE_URL"`
	DatabaseIAMAuth bool   `env:"DATABASE_IAM_AUTH"`

	// RedisURL is redis:// or rediss:// (TLS); empty means an in-memory cache.
	RedisURL      string `env:"REDIS_URL"`
	RedisPassword Secret `env:"REDIS_PASSWORD"`
	// CacheIAMUser and CacheName turn on ElastiCache IAM authentication
	// instead of REDIS_PASSWORD: each new connection signs in as the
	// ElastiCache user CacheIAMUser (its id, which is also its name) with
	// a token signed for the replication group CacheName.
	CacheIAMUser string `env:"CACHE_IAM_USER"`
	CacheName    string `env:"CACHE_NAME"`
	// CacheTimeout bounds one cache operation: a slow cache costs a
	// request at most this long before the request goes on without it.
	CacheTimeout time.Duration `env:"CACHE_TIMEOUT"`

	// AuthURL is the public base URL of the API: redirects and cookies
	// are built from it.
	// The session cookie is Secure, and named with the __Host- prefix,
	// unless AuthURL is plain http on a loopback host outside production.
	AuthURL    *url.URL `env:"AUTH_URL"`
	AuthSecret Secret   `env:"AUTH_SECRET"`
	// SessionMaxAge is a session's absolute lifetime: renewal by use never
	// extends a session past its creation plus this, so every session
	// ends, and its user signs in again, at the latest this long after
	// signing in. Lowering it ends older sessions at their next use.
	SessionMaxAge time.Duration `env:"SESSION_MAX_AGE"`
	// AuthRedirectURL is where the browser goes after signing in: the web
	// app. Cookie-authenticated writes are accepted from its origin and
	// AuthURL's.
	AuthRedirectURL *url.URL `env:"AUTH_REDIRECT_URL"`
	// CORSOrigins are further web apps' origins that may call the API
	// from a browser with credentials (see AllowedOrigins).
	CORSOrigins []string `env:"CORS_ORIGINS" envSeparator:","`

	// Without a client id (outside production) sign-in goes to the sandbox
	// Google of the local server.
	GoogleClientID     string   `env:"GOOGLE_CLIENT_ID"`
	GoogleClientSecret Secret   `env:"GOOGLE_CLIENT_SECRET"`
	GoogleWebhookURL   *url.URL `env:"GOOGLE_WEBHOOK_URL"`
	// GooglePushServiceAccount, when set, is the only service account
	// whose Gmail push tokens are accepted.
	GooglePushServiceAccount string `env:"GOOGLE_PUSH_SERVICE_ACCOUNT"`
	// GooglePubSubSubscription (projects/<project>/subscriptions/<name>),
	// when set, is the only push subscription whose deliveries the Gmail
	// push route accepts. Production requires it, and
	// GooglePushServiceAccount, when GoogleWebhookURL is set.
	GooglePubSubSubscription string `env:"GOOGLE_PUBSUB_SUBSCRIPTION"`
	// GooglePubSubTopic (projects/<project>/topics/<topic>) is where
	// gmail-watch asks Gmail to publish mailbox changes; unset, it watches
	// nothing.
	GooglePubSubTopic string `env:"GOOGLE_PUBSUB_TOPIC"`
	// GoogleSandboxURL is the base URL of a sandbox Google to use instead
	// of Google's endpoints (development and test only; production refuses
	// it). Unset, a sandbox is looked for at AuthURL + /sandbox/google.
	GoogleSandboxURL *url.URL `env:"GOOGLE_SANDBOX_URL"`

	// TokenKeys encrypt provider tokens at rest: a comma-separated list of
	// id:key entries, newest first, each key 32 random bytes in base64
	// ("k2:BASE64,k1:BASE64"). Values are sealed with the first key and
	// opened with whichever listed key sealed them; to rotate, put a new
	// key first and keep the old ones until nothing is sealed with them.
	TokenKeys Secret `env:"TOKEN_KEYS"`

	// OpenAIAPIKey is the OpenAI API key. Without one (outside
	// production) the local server serves a sandbox OpenAI.
	OpenAIAPIKey Secret `env:"OPENAI_API_KEY"`
	// OpenAIBaseURL replaces OpenAI's API base URL (with its /v1), for a
	// compatible endpoint or a proxy.
	OpenAIBaseURL *url.URL `env:"OPENAI_BASE_URL"`
	// OpenAIModel is the chat model AI analysis asks.
	OpenAIModel string `env:"OPENAI_MODEL"`

	// Features gate features for everyone: off here is off for every user.
	Features Features

	// QueueURLs maps a job type to its SQS queue URL, from the variables
	// QUEUE_URL_<TYPE> (see QueueURLVar). Empty: the in-memory queue.
	QueueURLs map[string]string `env:"-"`
	// JobsRetentionDays is how long finished jobs are kept.
	JobsRetentionDays int `env:"JOBS_RETENTION_DAYS"`
	// ExtractIgnore are address patterns (path.Match globs, such as
	// "*@notifications.example.com") contact extraction skips, besides its
	// built-in list of automated senders.
	ExtractIgnore []string `env:"EXTRACT_IGNORE" envSeparator:","`

	// Level is LogLevel parsed.
	Level slog.Level `env:"-"`
	// Function is the catalog entry the configuration was loaded for.
	Function catalog.Function `env:"-"`
}

// Features are the environment gates of the feature flags.
type Features struct {
	AIAgents   bool `env:"FEATURE_AI_AGENTS"`
	Enrichment bool `env:"FEATURE_ENRICHMENT"`
	Webhooks   bool `env:"FEATURE_WEBHOOKS"`
}

// Secret is a configuration value that must never be printed. Its String,
// LogValue and JSON forms are redacted; Reveal returns the value.
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
// naming every bad variable; nothing else is returned on bad input.
func Load(ctx context.Context, fn catalog.Function, opts ...Option) (*Config, error) {
	l := loader{}
	for _, o := range opts {
		o(&l)
	}
	if l.environ == nil {
		l.environ = env.ToMap(os.Environ())
	}
	vars := make(map[string]string, len(l.environ))
	for k, v := range l.environ {
		vars[k] = strings.TrimSpace(v)
	}

	var problems problemList
	appEnv := Env(vars[VarAppEnv])
	switch appEnv {
	case "":
		appEnv = Development
		vars[VarAppEnv] = string(Development)
	case Development, Test, Production:
	default:
		problems.add(VarAppEnv, fmt.Sprintf("must be development, test or production, not %q", appEnv))
		appEnv = Production // judge the rest strictly
		vars[VarAppEnv] = string(Production)
	}
	if appEnv != Production {
		for k, v := range localDefaults {
			if _, ok := vars[k]; !ok {
				vars[k] = v
			}
		}
	}
	if _, ok := vars[VarLogLevel]; !ok {
		vars[VarLogLevel] = "info"
	}
	if _, ok := vars[VarPort]; !ok {
		vars[VarPort] = "3000"
	}
	if _, ok := vars[VarHost]; !ok {
		vars[VarHost] = "127.0.0.1"
	}
	if _, ok := vars[VarCacheTimeout]; !ok {
		vars[VarCacheTimeout] = DefaultCacheTimeout.String()
	}
	if _, ok := vars[VarSessionMaxAge]; !ok {
		vars[VarSessionMaxAge] = DefaultSessionMaxAge.String()
	}
	if _, ok := vars[VarJobsRetentionDays]; !ok {
		vars[VarJobsRetentionDays] = "30"
	}
	if _, ok := vars[VarOpenAIModel]; !ok {
		vars[VarOpenAIModel] = DefaultOpenAIModel
	}

	cfg := &Config{Function: fn}
	if err := env.ParseWithOptions(cfg, env.Options{Environment: vars}); err != nil {
		problems.fromParse(cfg, err)
	}
	cfg.Env = appEnv

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

// validatePush checks the Gmail push settings. Push is configured when
// GOOGLE_WEBHOOK_URL (the tokens' audience) is set; production then
// requires the push subscription's service account, without which any
// Google-signed token for the audience would pass (anyone can mint one
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

// developmentSecrets are the secret values development and test run with
// by default, which anyone can read in this repository.
var developmentSecrets = []string{localDefaults[VarAuthSecret], localDefaults[VarTokenKeys], SandboxOpenAIKey, SandboxGoogleClientSecret}

// refuseDevelopmentSecrets refuses, in production, a secret that is a
// development value or a small edit of one: one that contains a
// development value, in any case (the development AUTH_SECRET plus a
// character), or is a long part of one; and a TOKEN_KEYS ring any of
// whose keys, whatever its id or place in the ring, decodes to the bytes
// of a development key ("prod:<the development key>"). Messages never
// quote the value.
func refuseDevelopmentSecrets(cfg *Config, p *problemList) {
	devRing, _ := sealbox.ParseRing(localDefaults[VarTokenKeys])
	devSecrets := append([]string(nil), developmentSecrets...)
	for _, k := range devRing {
		devSecrets = append(devSecrets, string(k.Key)) // the key's bytes, written out as a secret
	}
	secrets := []struct {
		name  string
		value Secret
	}{
		{VarAuthSecret, cfg.AuthSecret}, {VarTokenKeys, cfg.TokenKeys}, {VarGoogleClientSecret, cfg.GoogleClientSecret},
		{VarOpenAIAPIKey, cfg.OpenAIAPIKey}, {VarRedisPassword, cfg.RedisPassword},
	}
	for _, s := range secrets {
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

// localDefaults make a fresh machine work in development and test.
var localDefaults = map[string]string{
	VarDatabaseURL:     "postgres://localhost:5432/crm_dev?sslmode=disable",
	VarAuthURL:         "http://localhost:3000",
	VarAuthRedirectURL: "http://localhost:3000/",
	VarAuthSecret:      "development-only-auth-secret-not-for-production",
	VarTokenKeys:       "dev1:ZGV2ZWxvcG1lbnQtb25seS10b2tlbi1rZXktMzJieXQ=",
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

// fromParse turns the parser's aggregated errors into problems named by
// variable.
func (p *problemList) fromParse(cfg *Config, err error) {
	fieldVar := fieldVars(reflect.TypeOf(*cfg))
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		p.add("(environment)", err.Error())
		return
	}
	for _, e := range agg.Errors {
		var pe env.ParseError
		switch {
		case errors.As(e, &pe):
			name := fieldVar[pe.Name]
			if name == "" {
				name = pe.Name
			}
			p.add(name, fmt.Sprintf("must be a valid %s", typeName(pe.Type)))
		default:
			p.add("(environment)", e.Error())
		}
	}
}

func fieldVars(t reflect.Type) map[string]string {
	out := map[string]string{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Type.Kind() == reflect.Struct && f.Tag.Get("env") == "" && f.Type.PkgPath() == t.PkgPath() {
			for k, v := range fieldVars(f.Type) {
				out[k] = v
			}
			continue
		}
		if tag := f.Tag.Get("env"); tag != "" && tag != "-" {
			out[f.Name] = strings.Split(tag, ",")[0]
		}
	}
	return out
}

func typeName(t reflect.Type) string {
	switch {
	case t == nil:
		return "value"
	case t.Kind() == reflect.Bool:
		return "boolean (true or false)"
	case t == reflect.TypeOf(time.Duration(0)):
		return "duration (like 100ms)"
	case t.Kind() == reflect.Int:
		return "whole number"
	case t == reflect.TypeOf(&url.URL{}) || t == reflect.TypeOf(url.URL{}):
		return "URL"
	default:
		return t.String()
	}
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
	} else if prod && cfg.Function.Needs(catalog.Cache) {
		p.add(VarRedisURL, "required in production")
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
		p.add(VarCacheName, "required with CACHE_IAM_USER: the replication group id IAM tokens are signed for")
	case cfg.CacheName != "" && !elastiCacheID(cfg.CacheName, true):
		p.add(VarCacheName, "must be a replication group id: 1-40 lower-case letters, digits and single hyphens, starting with a letter, not ending with a hyphen")
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
