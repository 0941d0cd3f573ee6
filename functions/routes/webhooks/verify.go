package webhooks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"time"

	"google.golang.org/api/idtoken"
	"google.golang.org/api/option"

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
// keys (google.golang.org/api/idtoken fetches and caches them), the
// audience, expiry, issuer, a verified email and, when configured, the
// push service account; and then the subscription the delivery names.
type PushVerifier struct {
	v              *idtoken.Validator
	audience       string
	serviceAccount string
	subscription   string
	log            *slog.Logger
}

// NewPushVerifier returns a verifier. It does no I/O.
func NewPushVerifier(ctx context.Context, o PushOptions) (*PushVerifier, error) {
	if o.Audience == "" {
		return nil, errors.New("webhooks: a push token audience is required")
	}
	hc := o.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Certs != "" && o.Certs != google.Production.Certs {
		to, err := url.Parse(o.Certs)
		if err != nil {
			return nil, fmt.Errorf("webhooks: certs URL: %w", err)
		}
		hc = &http.Client{Timeout: hc.Timeout, Transport: certsAt{to: to, next: hc.Transport}}
	}
	// Fetching Google's keys is timed by the monitor in the context.
	hc = &http.Client{Timeout: hc.Timeout, Transport: monitor.Transport(hc.Transport, func(*http.Request) string { return google.LabelCerts })}
	v, err := idtoken.NewValidator(ctx, option.WithHTTPClient(hc))
	if err != nil {
		return nil, fmt.Errorf("webhooks: token validator: %w", err)
	}
	if o.Log == nil {
		o.Log = logging.Discard()
	}
	return &PushVerifier{v: v, audience: o.Audience, serviceAccount: o.ServiceAccount, subscription: o.Subscription, log: o.Log}, nil
}

// certsAt sends idtoken's requests for Google's keys, whose URL it fixes,
// to a sandbox Google's.
type certsAt struct {
	to   *url.URL
	next http.RoundTripper
}

func (c certsAt) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.String() == google.Production.Certs {
		r = r.Clone(r.Context())
		r.URL, r.Host = c.to, c.to.Host
	}
	next := c.next
	if next == nil {
		next = http.DefaultTransport
	}
	return next.RoundTrip(r)
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
	payload, err := p.v.Validate(ctx, token, p.audience)
	if err == nil {
		err = p.claims(payload)
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

// claims checks what idtoken leaves to its caller.
func (p *PushVerifier) claims(t *idtoken.Payload) error {
	if !slices.Contains(Issuers, t.Issuer) {
		return fmt.Errorf("issuer %q is not Google's", t.Issuer)
	}
	if v, _ := t.Claims["email_verified"].(bool); !v {
		return errors.New("email not verified")
	}
	if email, _ := t.Claims["email"].(string); p.serviceAccount != "" && email != p.serviceAccount {
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
