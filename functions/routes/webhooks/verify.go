package webhooks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/errs"
	"github.com/personalcrm/core/shared/google"
	"github.com/personalcrm/core/shared/logging"
	"github.com/personalcrm/core/shared/monitor"
)

// Issuers are the issuers of the tokens Pub/Sub signs for push
// subscriptions: Google's accounts service, with or without its scheme.
var Issuers = []string{"https://accounts.google.com", "accounts.google.com"}

// errPushToken answers a push without a valid token: the same for every
// reason, which goes to the log instead.
var errPushToken = errs.Unauthenticated("A valid Google-signed push token is required")

// PushOptions configure a PushVerifier.
type PushOptions struct {
	// Audience is the audience the push subscription puts in its tokens
	// (GOOGLE_WEBHOOK_URL); required.
	Audience string
	// ServiceAccount, when set, is the only service account whose tokens
	// are accepted: the push subscription's.
	ServiceAccount string
	// Subscription, when set, is the only push subscription
	// (projects/<project>/subscriptions/<name>) whose deliveries are
	// accepted.
	Subscription string
	// Certs is where Google's keys are fetched; empty is Google's own.
	Certs string
	// HTTP fetches the keys; nil is a client with a 10-second timeout.
	HTTP *http.Client
	// Log gets why a token was refused; nil discards it.
	Log *slog.Logger
}

// PushVerifier verifies the OpenID Connect tokens Pub/Sub sends with
// authenticated push deliveries: an RS256 signature by one of Google's
// keys (github.com/coreos/go-oidc fetches them, keeps them in memory and
// fetches them again for a key id it has not seen), the audience, expiry,
// issuer, a verified email and, when configured, the push service
// account; and then the subscription the delivery names. It links none of
// Google's API client stack, which cost the function milliseconds of cold
// start.
type PushVerifier struct {
	v              *oidc.IDTokenVerifier
	serviceAccount string
	subscription   string
	log            *slog.Logger
}

// NewPushVerifier returns a verifier. It does no I/O: the keys are fetched
// with the first token.
func NewPushVerifier(ctx context.Context, o PushOptions) (*PushVerifier, error) {
	if o.Audience == "" {
		return nil, errors.New("webhooks: a push token audience is required")
	}
	hc := o.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	certs := o.Certs
	if certs == "" {
		certs = google.Production.Certs
	}
	// Fetching Google's keys is timed by the monitor in the context.
	hc = &http.Client{Timeout: hc.Timeout, Transport: monitor.Transport(hc.Transport, func(*http.Request) string { return google.LabelCerts })}
	// The key set fetches with the client the context carries; it keeps
	// the context's values, not its cancellation.
	keys := oidc.NewRemoteKeySet(oidc.ClientContext(context.WithoutCancel(ctx), hc), certs)
	v := oidc.NewVerifier(Issuers[0], keys, &oidc.Config{
		ClientID:             o.Audience,
		SupportedSigningAlgs: []string{oidc.RS256},
	})
	if o.Log == nil {
		o.Log = logging.Discard()
	}
	return &PushVerifier{v: v, serviceAccount: o.ServiceAccount, subscription: o.Subscription, log: o.Log}, nil
}

// errSubscription answers a push with a valid token from a subscription
// other than the configured one.
var errSubscription = errs.Forbidden("Pushes are accepted from the configured subscription only")

// Verify checks token, the bearer token of a push, and then subscription,
// the subscription the push delivery names. Errors: Unauthenticated,
// whatever is wrong with the token (the reason is logged, the token
// never); Forbidden for a subscription other than the configured one.
func (p *PushVerifier) Verify(ctx context.Context, token, subscription string) error {
	if token == "" {
		return errPushToken
	}
	t, err := p.v.Verify(ctx, token)
	if err == nil {
		err = p.claims(t)
	}
	if err != nil {
		p.log.WarnContext(ctx, "push token refused", slog.String("reason", err.Error()))
		return errPushToken
	}
	if p.subscription != "" && subscription != p.subscription {
		p.log.WarnContext(ctx, "push refused: unexpected subscription", slog.String("subscription", subscription))
		return errSubscription
	}
	return nil
}

// claims checks what the OpenID Connect verifier leaves to its caller.
// The verifier accepts Google's issuer with or without its scheme; the
// list is checked here as well so that it stays the one rule.
func (p *PushVerifier) claims(t *oidc.IDToken) error {
	if !slices.Contains(Issuers, t.Issuer) {
		return fmt.Errorf("issuer %q is not Google's", t.Issuer)
	}
	var c struct {
		Email         string `json:"email"`
		EmailVerified any    `json:"email_verified"`
	}
	if err := t.Claims(&c); err != nil {
		return fmt.Errorf("claims: %w", err)
	}
	if v, _ := c.EmailVerified.(bool); !v {
		return errors.New("email not verified")
	}
	if p.serviceAccount != "" && c.Email != p.serviceAccount {
		return errors.New("not the push service account")
	}
	return nil
}

// VerifierFromConfig returns the verifier cfg describes: tokens for
// GOOGLE_WEBHOOK_URL, from GOOGLE_PUSH_SERVICE_ACCOUNT when set (always in
// production), signed by Google or, outside production, by the sandbox
// Google sign-in uses, for deliveries of GOOGLE_PUBSUB_SUBSCRIPTION when
// set (always in production). It returns nil without GOOGLE_WEBHOOK_URL:
// pushes are then refused.
func VerifierFromConfig(ctx context.Context, cfg *config.Config, log *slog.Logger) (*PushVerifier, error) {
	if cfg.GoogleWebhookURL == nil {
		return nil, nil
	}
	o := PushOptions{Audience: cfg.GoogleWebhookURL.String(), ServiceAccount: cfg.GooglePushServiceAccount,
		Subscription: cfg.GooglePubSubSubscription, Log: log}
	if g, err := google.FromConfig(cfg); err == nil && g.Sandbox() {
		o.Certs = g.Endpoints().Certs
	}
	return NewPushVerifier(ctx, o)
}
