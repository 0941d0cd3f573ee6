// Package gmailwatch is the gmail-watch operation: it asks Gmail to
// publish the changes of each mailbox that takes push notifications to the
// deployment's Pub/Sub topic (users.watch). A watch lasts 7 days; the
// operation runs daily, so each is renewed long before it ends. It is a
// package of its own so that only its function and the local server link
// the Gmail client.
package gmailwatch

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"
	"google.golang.org/api/gmail/v1"
	"google.golang.org/api/option"

	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/domain/email"
	"github.com/personalcrm/core/shared/google"
	"github.com/personalcrm/core/shared/logging"
	"github.com/personalcrm/core/shared/platform"
)

// Options are what gmail-watch needs.
type Options struct {
	Google *google.Client
	Tokens *google.Tokens
	// Topic is the Pub/Sub topic (projects/<p>/topics/<t>) Gmail
	// publishes to; empty, the operation watches nothing.
	Topic string
	// Enabled is the environment's webhooks gate (FEATURE_WEBHOOKS); off,
	// the operation watches nothing.
	Enabled bool
	// Batch is how many accounts one batch reads; default DefaultBatch.
	Batch int
	// Log receives the accounts whose watch failed; nil discards.
	Log *slog.Logger
}

// DefaultBatch is Options.Batch when unset.
const DefaultBatch = 100

// concurrency is how many watch calls a batch makes at once.
const concurrency = 4

// New builds the gmail-watch operation of app's function: Google, the
// token store and the topic as configured.
func New(app *platform.App) (platform.Op, error) {
	o, err := FromConfig(app.Config, app.DB, app.Log)
	if err != nil {
		return nil, err
	}
	return Op(app.DB, o), nil
}

// FromConfig builds the Options from the configuration. It does no I/O.
// Errors: a bad TOKEN_KEYS or Google configuration.
func FromConfig(cfg *config.Config, store google.Store, log *slog.Logger) (Options, error) {
	g, tokens, err := google.TokensFromConfig(cfg, store)
	return Options{Google: g, Tokens: tokens, Topic: cfg.GooglePubSubTopic, Enabled: cfg.Features.Webhooks, Log: log}, err
}

// Report says what a run did.
type Report struct {
	// Watched counts the mailboxes whose watch was made or renewed.
	Watched int `json:"watched"`
	// Failed counts the accounts Gmail or Google's token endpoint failed
	// for (rate limited, unavailable, refused); the next run tries again.
	Failed int `json:"failed"`
	// Skipped counts the accounts whose grant turned out to be gone, or
	// to leave Gmail out: they are marked as needing consent (or without
	// Gmail), and left out until their person signs in again.
	Skipped int `json:"skipped"`
	// Complete is false when the run stopped near its deadline and left
	// accounts to the next run.
	Complete bool `json:"complete"`
	// Disabled, when set, says why the run watched nothing.
	Disabled string `json:"disabled,omitempty"`
}

// LogValue logs the report as its JSON reads.
func (r Report) LogValue() slog.Value {
	attrs := []slog.Attr{slog.Int("watched", r.Watched), slog.Int("failed", r.Failed),
		slog.Int("skipped", r.Skipped), slog.Bool("complete", r.Complete)}
	if r.Disabled != "" {
		attrs = append(attrs, slog.String("disabled", r.Disabled))
	}
	return slog.GroupValue(attrs...)
}

// The reasons a run watches nothing.
const (
	DisabledGate  = "FEATURE_WEBHOOKS is off"
	DisabledTopic = "GOOGLE_PUBSUB_TOPIC is not set"
)

// Op watches the INBOX of every account that takes push notifications
// (it can sync and its user has the webhooks feature), by account id in
// batches of o.Batch, and stops early, leaving the rest to the next run,
// when its deadline nears. Watching a mailbox again only renews its
// watch, so a second run has no other effect.
func Op(pool *db.Pool, o Options) platform.Op {
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
	}
	if o.Log == nil {
		o.Log = logging.Discard()
	}
	syncs := email.NewSyncs(pool, nil)
	return func(ctx context.Context) (any, error) {
		r := Report{Complete: true}
		switch {
		case !o.Enabled:
			r.Disabled = DisabledGate
			return r, nil
		case o.Topic == "":
			r.Disabled = DisabledTopic
			return r, nil
		case o.Google == nil || o.Tokens == nil:
			return r, errors.New("gmail-watch has no Google client or token store")
		}
		r.Complete = false
		start := time.Now()
		// It starts no batch in the last quarter of the time it has.
		var stopAt time.Time
		if dl, ok := ctx.Deadline(); ok {
			stopAt = dl.Add(-dl.Sub(start) / 4)
		}
		after := uuid.Nil
		for {
			if !stopAt.IsZero() && !time.Now().Before(stopAt) {
				return r, nil
			}
			accounts, err := syncs.PushAccountsAfter(ctx, after, o.Batch)
			if err != nil {
				return r, err
			}
			if err := o.watchEach(ctx, accounts, &r); err != nil {
				return r, err
			}
			if len(accounts) < o.Batch {
				r.Complete = true
				return r, nil
			}
			after = accounts[len(accounts)-1].ID
		}
	}
}

// watchEach watches each of accounts, a few at a time, counting the
// outcomes in r. It fails only when ctx ends.
func (o Options) watchEach(ctx context.Context, accounts []email.Account, r *Report) error {
	var mu sync.Mutex
	var g errgroup.Group
	g.SetLimit(concurrency)
	for _, a := range accounts {
		g.Go(func() error {
			err := o.watch(ctx, a)
			mu.Lock()
			defer mu.Unlock()
			var gone *google.ReconsentError
			var ungranted *google.NotGrantedError
			switch {
			case err == nil:
				r.Watched++
			case errors.As(err, &gone), errors.As(err, &ungranted):
				r.Skipped++
			default:
				r.Failed++
				o.Log.WarnContext(ctx, "gmail watch failed", "account_id", a.ID, "err", err)
			}
			return nil
		})
	}
	g.Wait()
	return ctx.Err()
}

// watch asks Gmail to publish the changes of the account's INBOX to the
// topic.
func (o Options) watch(ctx context.Context, a email.Account) error {
	if _, err := o.Tokens.Token(ctx, a.UserID, a.ID); err != nil {
		return err
	}
	client := o.Google.APIClient(ctx, o.Tokens, a.UserID, a.ID)
	svc, err := gmail.NewService(ctx, option.WithHTTPClient(client), option.WithEndpoint(o.Google.Endpoints().Gmail))
	if err != nil {
		return err
	}
	_, err = svc.Users.Watch("me", &gmail.WatchRequest{
		TopicName: o.Topic, LabelIds: []string{"INBOX"}, LabelFilterBehavior: "include",
	}).Context(ctx).Do()
	if err != nil {
		err = google.APIError(google.Gmail, a.ID, "Gmail is limiting requests", "watch the mailbox", err)
		var ungranted *google.NotGrantedError
		if errors.As(err, &ungranted) {
			if uerr := o.Tokens.Ungrant(ctx, a.UserID, a.ID, google.Gmail); uerr != nil {
				o.Log.WarnContext(ctx, "account without Gmail not recorded", "account_id", a.ID, "err", uerr)
			}
		}
		return err
	}
	return nil
}
