// Package feature evaluates feature flags: the environment gates a feature
// off for everyone; where it is on, a user has the feature when their own
// settings (users.features) say so. Evaluated flags travel in the request
// context, and a user's settings change atomically in the database.
package feature

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/cache"
	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/errs"
)

// Flag names a feature. Its value is the key in users.features.
type Flag string

// The flags.
const (
	// AIAgents is the AI analysis of contacts and mail.
	AIAgents Flag = "ai-agents"
	// Enrichment is enriching contacts from outside sources.
	Enrichment Flag = "enrichment"
	// Webhooks is Gmail push notifications instead of polling.
	Webhooks Flag = "webhooks"
)

var all = []Flag{AIAgents, Enrichment, Webhooks}

// All returns every flag.
func All() []Flag { return slices.Clone(all) }

// Parse returns the flag called name. Errors: Invalid (unknown flag).
func Parse(name string) (Flag, error) {
	f := Flag(strings.TrimSpace(name))
	if !slices.Contains(all, f) {
		return "", errs.Field("flag", "must be one of "+list())
	}
	return f, nil
}

func list() string {
	s := make([]string, len(all))
	for i, f := range all {
		s[i] = string(f)
	}
	return strings.Join(s, ", ")
}

// Gates are the environment's switches: a flag off here is off for every
// user.
type Gates map[Flag]bool

// GatesOf reads the gates from the configuration.
func GatesOf(f config.Features) Gates {
	return Gates{AIAgents: f.AIAgents, Enrichment: f.Enrichment, Webhooks: f.Webhooks}
}

// Set is the evaluated flags of one user: every known flag, on or off.
type Set map[Flag]bool

// Evaluate decides every flag for a user whose own settings are user: on
// when the gate is on and the user's setting is true. Settings of unknown
// flags are ignored.
func Evaluate(g Gates, user map[string]bool) Set {
	s := make(Set, len(all))
	for _, f := range all {
		s[f] = g[f] && user[string(f)]
	}
	return s
}

// Enabled reports whether f is on. Unknown flags are off.
func (s Set) Enabled(f Flag) bool { return s[f] }

type setKey struct{}

// With returns ctx carrying the evaluated flags of its request's user.
func With(ctx context.Context, s Set) context.Context { return context.WithValue(ctx, setKey{}, s) }

// From returns the evaluated flags carried by ctx; without any, every
// flag is off.
func From(ctx context.Context) Set {
	s, _ := ctx.Value(setKey{}).(Set)
	if s == nil {
		return Evaluate(nil, nil)
	}
	return s
}

// Enabled reports whether the request's user has f.
func Enabled(ctx context.Context, f Flag) bool { return From(ctx).Enabled(f) }

// Settings reads and changes users' own flag settings.
type Settings struct {
	db    db.Querier
	cache *cache.Cache
}

// NewSettings returns the settings store on q.
func NewSettings(q db.Querier) *Settings { return &Settings{db: q} }

// WithCache makes Set drop the user's cached settings (see Scope) from c.
func (s *Settings) WithCache(c *cache.Cache) *Settings {
	s.cache = c
	return s
}

// Scope is the cache scope of a user's settings: readers that cache them
// there (signed-in requests do) see a change at once when the writer
// shares the cache.
func Scope(userID uuid.UUID) cache.Scope {
	return cache.Scope{Name: "features", Owner: userID.String()}
}

// Set turns f on or off for userID and returns the user's settings after
// the change. It is one UPDATE of the one key, so concurrent changes of
// different flags never undo each other. Errors: Invalid (unknown flag),
// NotFound (no such user).
func (s *Settings) Set(ctx context.Context, userID uuid.UUID, f Flag, on bool) (map[string]bool, error) {
	if _, err := Parse(string(f)); err != nil {
		return nil, err
	}
	var raw map[string]any
	err := s.db.QueryRow(ctx, `update users
		set features = jsonb_set(features, array[$2::text], to_jsonb($3::boolean)), updated_at = now()
		where id = $1 returning features`, userID, string(f), on).Scan(&raw)
	if err != nil {
		return nil, fmt.Errorf("set feature %s for user %s: %w", f, userID, db.Err(err, "user"))
	}
	s.cache.Invalidate(ctx, Scope(userID))
	return Decode(raw), nil
}

// Get returns userID's own settings. Errors: NotFound.
func (s *Settings) Get(ctx context.Context, userID uuid.UUID) (map[string]bool, error) {
	var raw map[string]any
	if err := s.db.QueryRow(ctx, `select features from users where id = $1`, userID).Scan(&raw); err != nil {
		return nil, fmt.Errorf("get features of user %s: %w", userID, db.Err(err, "user"))
	}
	return Decode(raw), nil
}

// Decode keeps the boolean settings of a users.features object; any
// other value is treated as absent (off).
func Decode(raw map[string]any) map[string]bool {
	out := make(map[string]bool, len(raw))
	for k, v := range raw {
		if b, ok := v.(bool); ok {
			out[k] = b
		}
	}
	return out
}
