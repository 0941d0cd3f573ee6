package logging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"golang.org/x/oauth2"

	"github.com/personalcrm/core/shared/logging"
)

// secret is logged in every shape a secret can take; it must never appear.
const (
	secret  = "tok_9f8e7d"
	visible = "visible_42"
)

// logOne logs with a fresh logger and returns the single line written,
// failing unless it is one valid JSON object.
func logOne(t *testing.T, do func(ctx context.Context, log *slog.Logger)) string {
	t.Helper()
	var buf bytes.Buffer
	log := logging.New(&buf, slog.LevelDebug)
	do(context.Background(), log)
	line := buf.String()
	if strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") {
		t.Fatalf("want one line, got %q", line)
	}
	var obj map[string]any
	if err := json.Unmarshal([]byte(line), &obj); err != nil {
		t.Fatalf("line is not JSON: %v\n%s", err, line)
	}
	return line
}

// decode parses a line written by logOne.
func decode(t *testing.T, line string) map[string]any {
	t.Helper()
	var obj map[string]any
	if err := json.Unmarshal([]byte(line), &obj); err != nil {
		t.Fatal(err)
	}
	delete(obj, "time")
	return obj
}

type credentials struct {
	RefreshToken string `json:"refresh_token"`
	Email        string `json:"email"`
}

type account struct {
	Provider string
	Tokens   credentials
	Meta     map[string]string
	Hidden   string `json:"-"`
	internal string
}

type node struct {
	Name  string
	Token string
	Next  *node
}

type inner struct {
	APIKey string `json:"api_key"`
	Region string `json:"region"`
}

type embedding struct {
	inner
	Name string `json:"name"`
}

type login struct{ user, password string }

func (l login) LogValue() slog.Value {
	return slog.GroupValue(slog.String("user", l.user), slog.String("password", l.password))
}

type header string

func TestRedaction(t *testing.T) {
	tests := []struct {
		name string
		log  func(ctx context.Context, log *slog.Logger)
		want []string // substrings the line must contain
	}{
		{
			name: "group",
			log: func(ctx context.Context, log *slog.Logger) {
				log.InfoContext(ctx, "m", slog.Group("req", "password", secret, "path", visible))
			},
			want: []string{`"req":{"password":"[REDACTED]","path":"visible_42"}`},
		},
		{
			name: "nested groups",
			log: func(ctx context.Context, log *slog.Logger) {
				log.InfoContext(ctx, "m", slog.Group("a", slog.Group("b", "client_secret", secret, "k", visible)))
			},
			want: []string{`"a":{"b":{"client_secret":"[REDACTED]","k":"visible_42"}}`},
		},
		{
			name: "sensitive group key",
			log: func(ctx context.Context, log *slog.Logger) {
				log.InfoContext(ctx, "m", slog.Group("credentials", "user", secret, slog.Group("more", "n", secret)), "k", visible)
			},
			want: []string{`"credentials":{"user":"[REDACTED]","more":{"n":"[REDACTED]"}}`, `"k":"visible_42"`},
		},
		{
			name: "WithGroup named like a secret",
			log: func(ctx context.Context, log *slog.Logger) {
				log.WithGroup("session_cookie").With("name", secret).InfoContext(ctx, "m", "value", secret)
			},
			want: []string{`"session_cookie":{"name":"[REDACTED]","value":"[REDACTED]"}`},
		},
		{
			name: "WithGroup",
			log: func(ctx context.Context, log *slog.Logger) {
				log.WithGroup("http").InfoContext(ctx, "m", "token", secret, "status", visible)
			},
			want: []string{`"http":{"token":"[REDACTED]","status":"visible_42"}`},
		},
		{
			name: "With",
			log: func(ctx context.Context, log *slog.Logger) {
				log.With("api_key", secret, "svc", visible).InfoContext(ctx, "m")
			},
			want: []string{`"api_key":"[REDACTED]","svc":"visible_42"`},
		},
		{
			name: "With inside WithGroup",
			log: func(ctx context.Context, log *slog.Logger) {
				log.WithGroup("g").With("secret", secret, "k", visible).InfoContext(ctx, "m", "n", 1)
			},
			want: []string{`"g":{"secret":"[REDACTED]","k":"visible_42","n":1}`},
		},
		{
			name: "LogValuer",
			log: func(ctx context.Context, log *slog.Logger) {
				log.InfoContext(ctx, "m", "login", login{user: visible, password: secret})
			},
			want: []string{`"login":{"user":"visible_42","password":"[REDACTED]"}`},
		},
		{
			name: "LogValuer inside a group",
			log: func(ctx context.Context, log *slog.Logger) {
				log.WithGroup("a").InfoContext(ctx, "m", slog.Group("b", "login", login{user: visible, password: secret}))
			},
			want: []string{`"a":{"b":{"login":{"user":"visible_42","password":"[REDACTED]"}}}`},
		},
		{
			name: "Bearer under a harmless key",
			log: func(ctx context.Context, log *slog.Logger) {
				log.InfoContext(ctx, "m", "note", "Bearer "+secret, "other", "BASIC "+secret, "k", visible)
			},
			want: []string{`"note":"[REDACTED]","other":"[REDACTED]","k":"visible_42"`},
		},
		{
			name: "Bearer in a named string type",
			log: func(ctx context.Context, log *slog.Logger) {
				log.InfoContext(ctx, "m", "h", header("Bearer "+secret), "k", visible)
			},
			want: []string{`"h":"[REDACTED]","k":"visible_42"`},
		},
		{
			name: "Bearer in a list of strings",
			log: func(ctx context.Context, log *slog.Logger) {
				log.InfoContext(ctx, "m", "hops", []string{visible, "bearer " + secret}, "k", []string{visible})
			},
			want: []string{`"hops":"[REDACTED]","k":["visible_42"]`},
		},
		{
			name: "Bearer in a group",
			log: func(ctx context.Context, log *slog.Logger) {
				log.InfoContext(ctx, "m", slog.Group("g", "forwarded", "Basic "+secret, "k", visible))
			},
			want: []string{`"g":{"forwarded":"[REDACTED]","k":"visible_42"}`},
		},
		{
			name: "error with a credential text",
			log: func(ctx context.Context, log *slog.Logger) {
				log.InfoContext(ctx, "m", "err", errors.New("Bearer "+secret), "k", visible)
			},
			want: []string{`"err":"[REDACTED]","k":"visible_42"`},
		},
		{
			name: "sensitive key of any type",
			log: func(ctx context.Context, log *slog.Logger) {
				log.InfoContext(ctx, "m", "token", []string{secret}, "Cookie", &http.Cookie{Value: secret}, "k", visible)
			},
			want: []string{`"token":"[REDACTED]","Cookie":"[REDACTED]","k":"visible_42"`},
		},
		{
			name: "context attribute",
			log: func(ctx context.Context, log *slog.Logger) {
				ctx = logging.WithAttrs(ctx, slog.String("session_token", secret), slog.String("request_id", visible))
				log.WithGroup("g").InfoContext(ctx, "m")
			},
			want: []string{`"session_token":"[REDACTED]","request_id":"visible_42"`},
		},
		{
			name: "struct inside a group",
			log: func(ctx context.Context, log *slog.Logger) {
				log.InfoContext(ctx, "m", slog.Group("g", "creds", credentials{RefreshToken: secret, Email: visible}, "k", visible))
			},
			want: []string{`"g":{"creds":"[logging_test.credentials not logged]","k":"visible_42"}`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line := logOne(t, tt.log)
			if strings.Contains(line, "9f8e7d") {
				t.Errorf("secret in %s", line)
			}
			for _, w := range tt.want {
				if !strings.Contains(line, w) {
					t.Errorf("want %s in\n%s", w, line)
				}
			}
		})
	}
}

// Values whose fields could hold anything are written as their type's
// name only, however their secrets are nested: structs, maps, pointers,
// slices of anything but strings, numbers and booleans.
func TestCompositeNotLogged(t *testing.T) {
	cyclic := &node{Name: visible, Token: secret}
	cyclic.Next = cyclic
	loop := map[string]any{"keep": visible, "secret": secret}
	loop["self"] = loop
	list := []any{visible, "Bearer " + secret, nil}
	list[2] = list
	var deep any = secret
	for range 40 {
		deep = map[string]any{"k": deep}
	}

	tests := []struct {
		name string
		v    any
		typ  string
	}{
		{"map three deep", map[string]any{"a": map[string]any{"b": map[string]any{"access_token": secret}}}, "map[string]interface {}"},
		{"struct json tag", credentials{RefreshToken: secret, Email: visible}, "logging_test.credentials"},
		{"pointer to struct", &credentials{RefreshToken: secret, Email: visible}, "*logging_test.credentials"},
		{"slice of structs", []credentials{{Email: visible}, {RefreshToken: secret}}, "[]logging_test.credentials"},
		{"map inside struct, dash tag and unexported field", account{
			Provider: "google",
			Tokens:   credentials{RefreshToken: secret},
			Meta:     map[string]string{"client_secret": secret},
			Hidden:   secret,
			internal: secret,
		}, "logging_test.account"},
		{"embedded struct", embedding{inner: inner{APIKey: secret}, Name: "n"}, "logging_test.embedding"},
		{"http.Header", http.Header{"Authorization": {"Bearer " + secret}, "X-Forwarded-Auth": {"bearer " + secret}}, "http.Header"},
		{"url.Values", url.Values{"code": {secret}}, "url.Values"},
		{"LogValuer inside a map", map[string]any{"login": login{user: visible, password: secret}}, "map[string]interface {}"},
		{"cyclic pointer", cyclic, "*logging_test.node"},
		{"cyclic map", loop, "map[string]interface {}"},
		{"cyclic slice", list, "[]interface {}"},
		{"deep map", deep, "map[string]interface {}"},
		{"OAuth token", &oauth2.Token{AccessToken: secret, RefreshToken: secret}, "*oauth2.Token"},
		{"bytes", []byte(secret), "[]uint8"},
		{"pointer to string", new(string(secret)), "*string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line := logOne(t, func(ctx context.Context, log *slog.Logger) {
				log.InfoContext(ctx, "m", "v", tt.v, "k", visible)
			})
			if strings.Contains(line, "9f8e7d") {
				t.Errorf("secret in %s", line)
			}
			if want := `"v":"[` + tt.typ + ` not logged]","k":"visible_42"`; !strings.Contains(line, want) {
				t.Errorf("want %s in\n%s", want, line)
			}
		})
	}
}

func TestSensitiveKeys(t *testing.T) {
	sensitive := []string{
		"password", "passwd", "token", "access_token", "AccessToken", "accessToken", "ACCESS-TOKEN",
		"refresh_token", "id_token", "session.token", "Authorization", "Proxy-Authorization",
		"cookie", "Set-Cookie", "secret", "client_secret", "apikey", "api_key", "apiKey", "X-Api-Key",
		"code", "auth_code", "authorization_code", "credentials", "private_key", "Private Key",
		"csrf_token", "db_password", "webhook secret", "session_cookie", "x_goog_api_key",
		strings.Repeat("very_long_prefix_", 10) + "token",
	}
	harmless := []string{
		"tokens", "token_count", "prompt_tokens", "codec", "error_code", "status", "secretary",
		"user_id", "passwords_changed", "cookies_enabled", "", strings.Repeat("x", 100) + "passwords",
	}
	// A key's value is redacted exactly when Sensitive says so.
	for _, key := range sensitive {
		t.Run(key, func(t *testing.T) {
			if !logging.Sensitive(key) {
				t.Errorf("Sensitive(%q) = false", key)
			}
			line := logOne(t, func(ctx context.Context, log *slog.Logger) {
				log.InfoContext(ctx, "m", key, secret, "sibling", visible)
			})
			if strings.Contains(line, secret) || !strings.Contains(line, visible) {
				t.Errorf("got %s", line)
			}
		})
	}
	for _, key := range harmless {
		t.Run("harmless "+key, func(t *testing.T) {
			if logging.Sensitive(key) {
				t.Errorf("Sensitive(%q) = true", key)
			}
			line := logOne(t, func(ctx context.Context, log *slog.Logger) {
				log.InfoContext(ctx, "m", slog.String(key, visible))
			})
			if !strings.Contains(line, visible) {
				t.Errorf("got %s", line)
			}
		})
	}
}

type nilError struct{ msg string }

func (e *nilError) Error() string { return e.msg }

// Values that cannot hide a secret from the rules are written as slog
// alone writes them.
func TestWrittenAsSlogWrites(t *testing.T) {
	args := []any{
		"id", uuid.MustParse("0190c2a4-7b1e-7000-8000-000000000001"),
		"at", time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC),
		"ip", net.ParseIP("10.0.0.1"),
		"raw", json.RawMessage(`{"a":[1,2]}`),
		"err", errors.New("boom"),
		"nil_err", (*nilError)(nil),
		"n", 3, "u", uint8(7), "f", float32(0.5), "ok", true, "took", time.Second,
		"ints", []int64{1, 2}, "flags", [2]bool{true, false}, "names", []string{"a", "b"},
		"named", header("plain"), "lvl", slog.LevelWarn, "none", nil,
		slog.Group("g", "a", 1, slog.Group("h", "b", "c")),
	}
	line := logOne(t, func(ctx context.Context, log *slog.Logger) {
		log.WarnContext(ctx, "m", args...)
	})
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Warn("m", args...)
	if diff := cmp.Diff(decode(t, buf.String()), decode(t, line)); diff != "" {
		t.Errorf("(-slog +ours):\n%s", diff)
	}
}

func TestContextAttrs(t *testing.T) {
	ctx := logging.WithAttrs(context.Background(), slog.String("request_id", "r1"), slog.String("function", "contacts-get"))
	ctx = logging.WithAttrs(ctx, slog.Bool("cold_start", true), slog.String("request_id", "r2"))

	tests := []struct {
		name string
		log  func(log *slog.Logger)
		want map[string]any
	}{
		{
			name: "plain",
			log:  func(log *slog.Logger) { log.InfoContext(ctx, "m", "k", 1) },
			want: map[string]any{"k": 1.0},
		},
		{
			name: "debug level",
			log:  func(log *slog.Logger) { log.DebugContext(ctx, "m", "k", 1) },
			want: map[string]any{"k": 1.0},
		},
		{
			name: "WithGroup",
			log: func(log *slog.Logger) {
				log.With("top", "t").WithGroup("g").With("bound", "b").WithGroup("h").ErrorContext(ctx, "m", "k", 1)
			},
			want: map[string]any{"top": "t", "g": map[string]any{"bound": "b", "h": map[string]any{"k": 1.0}}},
		},
		{
			name: "empty group",
			log:  func(log *slog.Logger) { log.WithGroup("g").WarnContext(ctx, "m") },
			want: map[string]any{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			tt.log(logging.New(&buf, slog.LevelDebug))
			got := decode(t, buf.String())
			for _, k := range []string{"level", "msg"} {
				delete(got, k)
			}
			want := map[string]any{"request_id": "r2", "function": "contacts-get", "cold_start": true}
			for k, v := range tt.want {
				want[k] = v
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}

	t.Run("many loggers concurrently", func(t *testing.T) {
		var buf syncBuffer
		base := logging.New(&buf, slog.LevelInfo)
		loggers := make([]*slog.Logger, 20) // more than a context remembers
		for i := range loggers {
			loggers[i] = base.With("logger", i)
		}
		var wg sync.WaitGroup
		for range 4 {
			for _, log := range loggers {
				wg.Go(func() { log.WithGroup("g").InfoContext(ctx, "m", "k", 1) })
			}
		}
		wg.Wait()
		lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
		if len(lines) != 4*len(loggers) {
			t.Fatalf("got %d lines, want %d", len(lines), 4*len(loggers))
		}
		for _, line := range lines {
			if strings.Count(line, `"request_id":"r2"`) != 1 || !strings.Contains(line, `"g":{"k":1}`) {
				t.Errorf("got %s", line)
			}
		}
	})

	t.Run("Attrs and Lookup", func(t *testing.T) {
		got := logging.Attrs(ctx)
		want := []slog.Attr{slog.String("request_id", "r2"), slog.String("function", "contacts-get"), slog.Bool("cold_start", true)}
		if !slicesEqual(got, want) {
			t.Errorf("Attrs = %v, want %v", got, want)
		}
		got[0] = slog.String("request_id", "changed")
		if v, ok := logging.Lookup(ctx, "request_id"); !ok || v.String() != "r2" {
			t.Errorf("Lookup(request_id) = %v, %v; want r2 (unchanged by editing Attrs' result)", v, ok)
		}
		if _, ok := logging.Lookup(ctx, "user_id"); ok {
			t.Error("Lookup(user_id) found a value never added")
		}
		if got := logging.Attrs(context.Background()); len(got) != 0 {
			t.Errorf("Attrs(empty) = %v", got)
		}
	})
}

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func slicesEqual(a, b []slog.Attr) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Equal(b[i]) {
			return false
		}
	}
	return true
}

func TestLevel(t *testing.T) {
	var buf bytes.Buffer
	log := logging.New(&buf, slog.LevelWarn)
	log.Info("dropped")
	log.Warn("kept")
	if got := strings.Count(buf.String(), "\n"); got != 1 || !strings.Contains(buf.String(), "kept") {
		t.Errorf("got %q", buf.String())
	}
}

func TestParseLevel(t *testing.T) {
	tests := []struct {
		in      string
		want    slog.Level
		wantErr bool
	}{
		{in: "debug", want: slog.LevelDebug},
		{in: "info", want: slog.LevelInfo},
		{in: "INFO", want: slog.LevelInfo},
		{in: "Warn", want: slog.LevelWarn},
		{in: "error", want: slog.LevelError},
		{in: "", wantErr: true},
		{in: "warning", wantErr: true},
		{in: "trace", wantErr: true},
		{in: " info", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := logging.ParseLevel(tt.in)
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), "debug, info, warn or error") {
					t.Errorf("ParseLevel(%q) error = %v, want one naming the levels", tt.in, err)
				}
				return
			}
			if err != nil {
				t.Errorf("ParseLevel(%q): %v", tt.in, err)
			} else if got != tt.want {
				t.Errorf("ParseLevel(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

// Simple attributes under harmless keys cost no more allocations than
// slog's own JSON handler.
func TestFastPathAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	ctx := context.Background()
	base := slog.New(slog.NewJSONHandler(io.Discard, nil))
	ours := logging.New(io.Discard, slog.LevelInfo)
	logPlain := func(log *slog.Logger) func() {
		return func() {
			log.InfoContext(ctx, "contact created", "contact_id", "c1", "count", 3,
				"ok", true, "took", time.Millisecond)
		}
	}
	want := testing.AllocsPerRun(100, logPlain(base))
	if got := testing.AllocsPerRun(100, logPlain(ours)); got > want {
		t.Errorf("allocs = %v, slog alone = %v", got, want)
	}
}

func TestDiscard(t *testing.T) {
	log := logging.Discard()
	if log.Enabled(context.Background(), slog.LevelError) {
		t.Error("Discard logger is enabled")
	}
	log.Error("m", "token", secret)
}

func BenchmarkLog(b *testing.B) {
	logPlain := func(b *testing.B, log *slog.Logger, ctx context.Context) {
		b.ReportAllocs()
		for b.Loop() {
			log.InfoContext(ctx, "contact created", "contact_id", "0190c2a4-7b1e-7000-8000-000000000001",
				"count", 3, "ok", true, "took", 1500*time.Microsecond)
		}
	}
	b.Run("slog", func(b *testing.B) {
		logPlain(b, slog.New(slog.NewJSONHandler(io.Discard, nil)), context.Background())
	})
	b.Run("logging", func(b *testing.B) {
		logPlain(b, logging.New(io.Discard, slog.LevelInfo), context.Background())
	})
	b.Run("logging+ctx", func(b *testing.B) {
		ctx := logging.WithAttrs(context.Background(),
			slog.String("request_id", "c0ffee00-1234"), slog.String("function", "contacts-get"),
			slog.Bool("cold_start", false), slog.String("user_id", "0190c2a4-7b1e-7000-8000-000000000002"))
		logPlain(b, logging.New(io.Discard, slog.LevelInfo), ctx)
	})
}

// BenchmarkLogNested logs secrets in groups and a LogValuer, which slog
// alone writes as they are.
func BenchmarkLogNested(b *testing.B) {
	ctx := context.Background()
	logNested := func(b *testing.B, log *slog.Logger) {
		b.ReportAllocs()
		for b.Loop() {
			log.InfoContext(ctx, "account linked", slog.Group("account", "provider", "google",
				slog.Group("tokens", "refresh_token", secret, "email", "a@example.com"),
				"login", login{user: "a@example.com", password: secret}))
		}
	}
	b.Run("slog", func(b *testing.B) { logNested(b, slog.New(slog.NewJSONHandler(io.Discard, nil))) })
	b.Run("logging", func(b *testing.B) { logNested(b, logging.New(io.Discard, slog.LevelInfo)) })
}
