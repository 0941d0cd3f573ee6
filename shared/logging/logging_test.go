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
	cyclic := &node{Name: visible, Token: secret}
	cyclic.Next = cyclic
	loop := map[string]any{"keep": visible, "secret": secret}
	loop["self"] = loop
	list := []any{visible, "Bearer " + secret, nil}
	list[2] = list

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
				log.InfoContext(ctx, "m", slog.Group("credentials", "user", secret), "k", visible)
			},
			want: []string{`"credentials":"[REDACTED]"`, visible},
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
			name: "map three deep",
			log: func(ctx context.Context, log *slog.Logger) {
				log.InfoContext(ctx, "m", "data", map[string]any{
					"a": map[string]any{"b": map[string]any{"access_token": secret, "keep": visible}},
				})
			},
			want: []string{`"data":{"a":{"b":{"access_token":"[REDACTED]","keep":"visible_42"}}}`},
		},
		{
			name: "struct json tag",
			log: func(ctx context.Context, log *slog.Logger) {
				log.InfoContext(ctx, "m", "creds", credentials{RefreshToken: secret, Email: visible})
			},
			want: []string{`"creds":{"email":"visible_42","refresh_token":"[REDACTED]"}`},
		},
		{
			name: "pointer to struct",
			log: func(ctx context.Context, log *slog.Logger) {
				log.InfoContext(ctx, "m", "creds", &credentials{RefreshToken: secret, Email: visible})
			},
			want: []string{`"creds":{"email":"visible_42","refresh_token":"[REDACTED]"}`},
		},
		{
			name: "slice of structs",
			log: func(ctx context.Context, log *slog.Logger) {
				log.InfoContext(ctx, "m", "all", []credentials{{Email: visible}, {RefreshToken: secret, Email: "b"}})
			},
			want: []string{`"all":[{"email":"visible_42","refresh_token":"[REDACTED]"},{"email":"b","refresh_token":"[REDACTED]"}]`},
		},
		{
			name: "map inside struct, dash tag and unexported field",
			log: func(ctx context.Context, log *slog.Logger) {
				log.InfoContext(ctx, "m", "account", account{
					Provider: "google",
					Tokens:   credentials{RefreshToken: secret, Email: visible},
					Meta:     map[string]string{"client_secret": secret, "region": visible},
					Hidden:   secret,
					internal: secret,
				})
			},
			want: []string{`"Meta":{"client_secret":"[REDACTED]","region":"visible_42"}`, `"Provider":"google"`},
		},
		{
			name: "embedded struct",
			log: func(ctx context.Context, log *slog.Logger) {
				log.InfoContext(ctx, "m", "e", embedding{inner: inner{APIKey: secret, Region: visible}, Name: "n"})
			},
			want: []string{`"e":{"api_key":"[REDACTED]","name":"n","region":"visible_42"}`},
		},
		{
			name: "http.Header",
			log: func(ctx context.Context, log *slog.Logger) {
				log.InfoContext(ctx, "m", "headers", http.Header{
					"Authorization": {"Bearer " + secret},
					"Cookie":        {"a=" + secret, "b=" + secret},
					"X-Api-Key":     {secret},
					"Accept":        {visible},
				})
			},
			want: []string{`"Authorization":"[REDACTED]"`, `"Cookie":"[REDACTED]"`, `"Accept":["visible_42"]`},
		},
		{
			name: "Bearer in a harmless header",
			log: func(ctx context.Context, log *slog.Logger) {
				log.InfoContext(ctx, "m", "headers", http.Header{"X-Forwarded-Auth": {visible, "bearer " + secret}})
			},
			want: []string{`"X-Forwarded-Auth":["visible_42","[REDACTED]"]`},
		},
		{
			name: "url.Values",
			log: func(ctx context.Context, log *slog.Logger) {
				log.InfoContext(ctx, "m", "query", url.Values{"code": {secret, secret}, "state": {visible}})
			},
			want: []string{`"query":{"code":"[REDACTED]","state":["visible_42"]}`},
		},
		{
			name: "LogValuer",
			log: func(ctx context.Context, log *slog.Logger) {
				log.InfoContext(ctx, "m", "login", login{user: visible, password: secret})
			},
			want: []string{`"login":{"user":"visible_42","password":"[REDACTED]"}`},
		},
		{
			name: "LogValuer inside a map",
			log: func(ctx context.Context, log *slog.Logger) {
				log.InfoContext(ctx, "m", "m", map[string]any{"login": login{user: visible, password: secret}})
			},
			want: []string{`"m":{"login":{"password":"[REDACTED]","user":"visible_42"}}`},
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
				log.InfoContext(ctx, "m")
			},
			want: []string{`"session_token":"[REDACTED]","request_id":"visible_42"`},
		},
		{
			name: "cyclic pointer",
			log: func(ctx context.Context, log *slog.Logger) {
				log.InfoContext(ctx, "m", "n", cyclic)
			},
			want: []string{`"n":{"Name":"visible_42","Next":"[CYCLE]","Token":"[REDACTED]"}`},
		},
		{
			name: "cyclic map",
			log: func(ctx context.Context, log *slog.Logger) {
				log.InfoContext(ctx, "m", "m", loop)
			},
			want: []string{`"m":{"keep":"visible_42","secret":"[REDACTED]","self":"[CYCLE]"}`},
		},
		{
			name: "cyclic slice",
			log: func(ctx context.Context, log *slog.Logger) {
				log.InfoContext(ctx, "m", "l", list)
			},
			want: []string{`"l":["visible_42","[REDACTED]","[CYCLE]"]`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done := make(chan string, 1)
			go func() { done <- logOne(t, tt.log) }()
			var line string
			select {
			case line = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("logging did not return")
			}
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

type record struct {
	ID        string            `json:"id"`
	At        time.Time         `json:"at"`
	IP        net.IP            `json:"ip"`
	Raw       []byte            `json:"raw"`
	Ratio     float32           `json:"ratio"`
	Skip      string            `json:"skip,omitempty"`
	Zero      time.Time         `json:"zero,omitzero"`
	Labels    map[int]string    `json:"labels"`
	Next      *record           `json:"next"`
	Any       any               `json:"any"`
	Dur       time.Duration     `json:"dur"`
	Tags      [2]string         `json:"tags"`
	Headers   map[string]string `json:"headers,omitempty"`
	unexposed int
	embedding
}

// A value without secrets is written as encoding/json writes it.
func TestWalkMatchesJSON(t *testing.T) {
	v := record{
		unexposed: 7,
		ID:        "r1",
		At:        time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC),
		IP:        net.ParseIP("10.0.0.1"),
		Raw:       []byte("raw bytes"),
		Ratio:     0.1,
		Labels:    map[int]string{1: "one"},
		Next:      &record{ID: "r2", Any: []int{1, 2}},
		Any:       map[string]any{"x": 1.5, "y": nil},
		Dur:       time.Second,
		Tags:      [2]string{"a", "b"},
		embedding: embedding{
			inner: inner{Region: "eu"},
			Name:  "n",
		},
	}
	line := logOne(t, func(ctx context.Context, log *slog.Logger) {
		log.InfoContext(ctx, "m", "v", v)
	})
	got := decode(t, line)["v"]

	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var want any
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	// The only difference: the embedded api_key is redacted, even empty.
	want.(map[string]any)["api_key"] = logging.Redacted
	want.(map[string]any)["next"].(map[string]any)["api_key"] = logging.Redacted
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("walk differs from encoding/json (-want +got):\n%s", diff)
	}
}

func TestDepthLimit(t *testing.T) {
	var v any = visible
	for range 40 {
		v = map[string]any{"k": v}
	}
	line := logOne(t, func(ctx context.Context, log *slog.Logger) {
		log.InfoContext(ctx, "m", "deep", v)
	})
	if !strings.Contains(line, `"[TOO DEEP]"`) || strings.Contains(line, visible) {
		t.Errorf("got %s", line)
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
			if err != nil || got != tt.want {
				t.Errorf("ParseLevel(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
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

func BenchmarkLogNested(b *testing.B) {
	v := &account{
		Provider: "google",
		Tokens:   credentials{RefreshToken: secret, Email: "a@example.com"},
		Meta:     map[string]string{"client_secret": secret, "region": "eu-west-1"},
	}
	ctx := context.Background()
	logNested := func(b *testing.B, log *slog.Logger) {
		b.ReportAllocs()
		for b.Loop() {
			log.InfoContext(ctx, "account linked", "account", v)
		}
	}
	// slog alone marshals v with encoding/json, secrets included.
	b.Run("slog", func(b *testing.B) { logNested(b, slog.New(slog.NewJSONHandler(io.Discard, nil))) })
	b.Run("logging", func(b *testing.B) { logNested(b, logging.New(io.Discard, slog.LevelInfo)) })
}
