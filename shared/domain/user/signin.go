package user

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"golang.org/x/oauth2"

	"github.com/personalcrm/core/shared/auth"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/errs"
	"github.com/personalcrm/core/shared/google"
	"github.com/personalcrm/core/shared/queue"
)

// Identity is a person as Google describes them at sign-in.
type Identity struct {
	// Subject is Google's stable id of the person.
	Subject       string
	Email         string
	EmailVerified bool
	Name          string
	Picture       string
}

// TokenSaver stores an account's provider tokens (google.Tokens does,
// sealed).
type TokenSaver interface {
	Save(ctx context.Context, q db.Querier, userID, accountID uuid.UUID, tok *oauth2.Token) error
}

// SessionCreator starts sessions (auth.Sessions does).
type SessionCreator interface {
	Create(ctx context.Context, q db.Querier, userID uuid.UUID, m auth.Meta) (string, auth.Session, error)
}

// MailSyncer starts the mail sync of an account in the transaction of its
// sign-in (email.Syncs does): it enqueues one when the account can sync,
// and reports whether it can.
type MailSyncer interface {
	SyncAfterSignIn(ctx context.Context, tx *queue.Tx, userID, accountID uuid.UUID) (bool, error)
}

// SignIn turns a Google sign-in into a user, their account and a session.
type SignIn struct {
	db       Store
	tokens   TokenSaver
	sessions SessionCreator
	queue    *queue.Queue
	mail     MailSyncer
	calendar MailSyncer
}

// NewSignIn returns the sign-in service on store.
func NewSignIn(store Store, tokens TokenSaver, sessions SessionCreator) *SignIn {
	return &SignIn{db: store, tokens: tokens, sessions: sessions}
}

// WithMailSync makes each sign-in start the account's mail sync through
// mail, in its transaction, with q's outbox: the job exists exactly when
// the sign-in commits, and is sent then.
func (s *SignIn) WithMailSync(q *queue.Queue, mail MailSyncer) *SignIn {
	s.queue, s.mail = q, mail
	return s
}

// WithCalendarSync makes each sign-in with mail sync (WithMailSync) also
// start the account's calendar sync through cal (meeting.Service), in the
// same transaction, when the account granted the calendar.
func (s *SignIn) WithCalendarSync(cal MailSyncer) *SignIn {
	s.calendar = cal
	return s
}

// Result is a completed sign-in.
type Result struct {
	User      User
	AccountID uuid.UUID
	// Created is true when the user is new.
	Created bool
	// MailSync is true when the account's mail sync was started (or
	// already waiting or running): it can sync.
	MailSync bool
	// Token is the new session's token; it exists only here.
	Token   string
	Session auth.Session
}

// HasGrant reports whether the Google account of subject holds a refresh
// token that is still good, so signing in need not ask for consent again.
// An unknown subject has none.
func (s *SignIn) HasGrant(ctx context.Context, subject string) (bool, error) {
	var ok bool
	err := s.db.QueryRow(ctx, `select refresh_token is not null and not needs_reconsent
		from accounts where provider = $1 and provider_account_id = $2`, google.Provider, subject).Scan(&ok)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("check grant: %w", db.Err(err, "account"))
	}
	return ok, nil
}

// UserHasGrant is HasGrant for the Google account of a user.
func (s *SignIn) UserHasGrant(ctx context.Context, userID uuid.UUID) (bool, error) {
	var ok *bool
	err := s.db.QueryRow(ctx, `select bool_or(refresh_token is not null and not needs_reconsent)
		from accounts where provider = $1 and user_id = $2`, google.Provider, userID).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("check grant: %w", db.Err(err, "account"))
	}
	return ok != nil && *ok, nil
}

// RetryWithin is how long Complete waits out a database that is
// restarting or failing over.
const RetryWithin = 5 * time.Second

// Complete signs in the person id with Google's tokens, in one
// transaction: it finds their user by Google subject (or, the first time,
// by verified email, else creates one), stores the account's tokens,
// starts a session and, WithMailSync, the account's mail sync. A
// returning user's email follows Google's; their name and picture are only
// filled in where empty, so their own edits stay.
//
// Errors: Invalid (no subject or email); Forbidden (a new person whose
// email Google has not verified); Conflict (the email belongs to a user
// signed in with another Google account).
func (s *SignIn) Complete(ctx context.Context, id Identity, tok *oauth2.Token, m auth.Meta) (Result, error) {
	id.Email = strings.TrimSpace(id.Email)
	if id.Subject == "" || !validEmail(id.Email) {
		return Result{}, errs.Field("email", "Google gave no usable identity")
	}
	id.Name = clip(strings.TrimSpace(id.Name), MaxName)
	if !validImageURL(id.Picture) || len(id.Picture) > MaxImageURL {
		id.Picture = ""
	}
	var out Result
	complete := func(tx db.Tx) error {
		var err error
		out.User, out.AccountID, out.Created, err = upsert(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := s.tokens.Save(ctx, tx, out.User.ID, out.AccountID, tok); err != nil {
			return err
		}
		out.Token, out.Session, err = s.sessions.Create(ctx, tx, out.User.ID, m)
		return err
	}
	// A restart of the database is waited out for a few seconds, as
	// long as the transaction certainly did not commit: Google's code is
	// used up, and failing would send the person back to start over.
	err := db.Retry(ctx, RetryWithin, db.NotRun, func() error {
		out = Result{}
		if s.queue == nil || s.mail == nil {
			return db.InTx(ctx, s.db, complete)
		}
		return s.queue.InTx(ctx, func(tx *queue.Tx) error {
			if err := complete(tx.Tx); err != nil {
				return err
			}
			var err error
			if out.MailSync, err = s.mail.SyncAfterSignIn(ctx, tx, out.User.ID, out.AccountID); err != nil || s.calendar == nil {
				return err
			}
			_, err = s.calendar.SyncAfterSignIn(ctx, tx, out.User.ID, out.AccountID)
			return err
		})
	})
	if err != nil {
		return Result{}, fmt.Errorf("sign in: %w", db.Err(err, "user"))
	}
	return out, nil
}

func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

var (
	errUnverified = errs.Forbidden("Your Google account's email address is not verified")
	errTaken      = errs.Conflict("This email address belongs to a user who signs in with another Google account")
)

// upsert finds or creates the user and Google account of id in tx.
func upsert(ctx context.Context, tx db.Tx, id Identity) (User, uuid.UUID, bool, error) {
	var accountID, userID uuid.UUID
	err := tx.QueryRow(ctx, `select id, user_id from accounts where provider = $1 and provider_account_id = $2 for update`,
		google.Provider, id.Subject).Scan(&accountID, &userID)
	switch {
	case err == nil:
		u, err := refresh(ctx, tx, userID, id)
		return u, accountID, false, err
	case !errors.Is(err, pgx.ErrNoRows):
		return User{}, uuid.Nil, false, db.Err(err, "account")
	}

	// A new Google account: its user is the one with this (verified)
	// email, or a new one.
	if !id.EmailVerified {
		return User{}, uuid.Nil, false, errUnverified
	}
	newID := uuid.Must(uuid.NewV7())
	created := true
	err = tx.QueryRow(ctx, `insert into users (id, email, name, image_url) values ($1, $2, nullif($3, ''), nullif($4, ''))
		on conflict (lower(email)) do nothing returning id`, newID, id.Email, id.Name, id.Picture).Scan(&userID)
	if errors.Is(err, pgx.ErrNoRows) {
		created = false
		err = tx.QueryRow(ctx, `select id from users where lower(email) = lower($1)`, id.Email).Scan(&userID)
	}
	if err != nil {
		return User{}, uuid.Nil, false, db.Err(err, "user")
	}
	var other bool
	err = tx.QueryRow(ctx, `select exists (select 1 from accounts where user_id = $1 and provider = $2 and provider_account_id <> $3)`,
		userID, google.Provider, id.Subject).Scan(&other)
	if err != nil {
		return User{}, uuid.Nil, false, db.Err(err, "account")
	}
	if other {
		return User{}, uuid.Nil, false, errTaken
	}
	accountID = uuid.Must(uuid.NewV7())
	// A concurrent first sign-in of the same person may have inserted the
	// account; then this one waits for it and uses it.
	err = tx.QueryRow(ctx, `insert into accounts (id, user_id, provider, provider_account_id) values ($1, $2, $3, $4)
		on conflict (provider, provider_account_id) do nothing returning id`, accountID, userID, google.Provider, id.Subject).Scan(&accountID)
	if errors.Is(err, pgx.ErrNoRows) {
		created = false
		err = tx.QueryRow(ctx, `select id, user_id from accounts where provider = $1 and provider_account_id = $2 for update`,
			google.Provider, id.Subject).Scan(&accountID, &userID)
	}
	if err != nil {
		return User{}, uuid.Nil, false, db.Err(err, "account")
	}
	u, err := refresh(ctx, tx, userID, id)
	return u, accountID, created, err
}

// refresh brings a user's profile up to date with Google's: the email when
// it is verified and no other user has it, the name and picture where the
// user has none.
func refresh(ctx context.Context, tx db.Tx, userID uuid.UUID, id Identity) (User, error) {
	rows, err := tx.Query(ctx, `update users set
			email = case when $2 and not exists (select 1 from users o where lower(o.email) = lower($3) and o.id <> users.id)
				then $3 else email end,
			name = coalesce(name, nullif($4, '')),
			image_url = coalesce(image_url, nullif($5, '')),
			updated_at = now()
		where id = $1 returning `+columns, userID, id.EmailVerified, id.Email, id.Name, id.Picture)
	return collect(rows, err)
}
