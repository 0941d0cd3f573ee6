package user

import (
	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/db"
	domain "github.com/personalcrm/core/shared/domain/user"
	"github.com/personalcrm/core/shared/google"
)

// NewData builds the service of the routes that disconnect Google and
// delete users: it ends grants with the Google client and token store cfg
// describes. It does no I/O. Errors: a bad TOKEN_KEYS or Google
// configuration.
func NewData(cfg *config.Config, pool *db.Pool) (*domain.Data, error) {
	_, tokens, err := google.TokensFromConfig(cfg, pool)
	if err != nil {
		return nil, err
	}
	return domain.NewData(pool, tokens), nil
}
