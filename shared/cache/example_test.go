package cache_test

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/cache"
)

// Flags are a user's evaluated feature flags.
type Flags map[string]bool

// A user's evaluated feature flags, cached per user: the scope's owner is
// the user, so no user is ever served another's flags, and a change of the
// user's flags invalidates them at once.
func ExampleGetOrLoad() {
	c := cache.New(cache.NewMemory(0), cache.Options{})
	ctx := context.Background()
	userID := uuid.New()
	scope := cache.Scope{Name: "features", Owner: userID.String()}

	flags, err := cache.GetOrLoad(ctx, c, scope, cache.Key("evaluated"), 5*time.Minute,
		func(ctx context.Context) (Flags, error) {
			// Read users.features and apply the environment's gates.
			return Flags{"ai-agents": true}, nil
		})
	_, _ = flags, err

	// After writing users.features:
	c.Invalidate(ctx, scope)
}
