package auth

import (
	"context"
	"fmt"

	"github.com/personalcrm/core/shared/db"
)

// Expired counts what DeleteExpired deleted.
type Expired struct {
	Sessions           int64 `json:"sessions"`
	VerificationTokens int64 `json:"verificationTokens"`
}

// DeleteExpired deletes the sessions and verification tokens that have
// expired: they can no longer be used, and keeping them keeps nothing but
// their metadata.
func DeleteExpired(ctx context.Context, q db.Querier) (Expired, error) {
	var e Expired
	tag, err := q.Exec(ctx, `delete from sessions where expires_at < now()`)
	if err != nil {
		return e, fmt.Errorf("delete expired sessions: %w", db.Err(err, "session"))
	}
	e.Sessions = tag.RowsAffected()
	tag, err = q.Exec(ctx, `delete from verification_tokens where expires_at < now()`)
	if err != nil {
		return e, fmt.Errorf("delete expired verification tokens: %w", db.Err(err, "verification token"))
	}
	e.VerificationTokens = tag.RowsAffected()
	return e, nil
}
