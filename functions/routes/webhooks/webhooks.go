// Package webhooks serves the routes outside services call: Gmail's push
// notifications, delivered by a Pub/Sub push subscription with a token
// Google signs, which start an incremental sync of the mailbox they name.
package webhooks

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/domain/email"
	"github.com/personalcrm/core/shared/errs"
)

// ErrNotEnabled answers pushes while the environment's webhooks gate is
// off (or no push audience is configured): 403, as the API answers for
// every feature that is off. The route exists; it only refuses.
var ErrNotEnabled = errs.Forbidden("Gmail push notifications are not enabled")

// PushMessage is a Pub/Sub message as a push subscription delivers it.
type PushMessage struct {
	_           struct{}          `additionalProperties:"true"`
	Data        string            `json:"data" minLength:"1" maxLength:"4096" doc:"Base64 of Gmail's notification: {\"emailAddress\", \"historyId\"}"`
	MessageID   string            `json:"messageId,omitempty" maxLength:"256"`
	PublishTime string            `json:"publishTime,omitempty" maxLength:"64"`
	Attributes  map[string]string `json:"attributes,omitempty"`
}

// PushRequest is a Pub/Sub push delivery.
type PushRequest struct {
	_            struct{}    `additionalProperties:"true"`
	Message      PushMessage `json:"message"`
	Subscription string      `json:"subscription,omitempty" maxLength:"512"`
}

// PushInput is a push with its token.
type PushInput struct {
	Authorization string `header:"Authorization" doc:"Bearer and the OpenID Connect token Pub/Sub signs for the push subscription"`
	Body          PushRequest
}

// Notification is what Gmail publishes when a watched mailbox changes.
// The history id comes as a JSON number or a string of one.
type Notification struct {
	EmailAddress string      `json:"emailAddress"`
	HistoryID    json.Number `json:"historyId"`
}

// MailboxSyncer finds the accounts of a mailbox and enqueues their syncs.
type MailboxSyncer interface {
	PushAccounts(ctx context.Context, address string) ([]email.Account, error)
	RequestEach(ctx context.Context, accounts []email.Account) (int, error)
}

// GmailDeps are what the Gmail push route needs.
type GmailDeps struct {
	// Enabled is the environment's webhooks gate.
	Enabled bool
	// Verifier checks push tokens; nil refuses every push (not enabled).
	Verifier *PushVerifier
	Syncs    MailboxSyncer
}

// Gmail answers POST /webhooks/gmail: a push with a valid token enqueues
// an incremental sync of each account of the mailbox it names whose user
// has the webhooks feature, one waiting or running per account, so a
// redelivered push adds nothing. It answers 204, also for a mailbox it
// does not know, so Pub/Sub stops delivering it.
func Gmail(d GmailDeps) api.Route {
	return api.Handle(catalog.WebhooksGmail, func(ctx context.Context, in *PushInput) (*struct{}, error) {
		if !d.Enabled || d.Verifier == nil {
			return nil, ErrNotEnabled
		}
		if err := d.Verifier.Verify(ctx, bearer(in.Authorization), in.Body.Subscription); err != nil {
			return nil, err
		}
		n, err := decode(in.Body.Message.Data)
		if err != nil {
			return nil, err
		}
		accounts, err := d.Syncs.PushAccounts(ctx, n.EmailAddress)
		if err != nil {
			return nil, err
		}
		if _, err := d.Syncs.RequestEach(ctx, accounts); err != nil {
			return nil, err
		}
		return nil, nil
	}, api.Status(http.StatusNoContent), api.Errors(http.StatusUnauthorized, http.StatusForbidden))
}

var errData = errs.Field("message.data", "must be base64 of Gmail's notification, a JSON object with emailAddress and historyId")

// decode reads Gmail's notification from a message's data.
func decode(data string) (Notification, error) {
	var n Notification
	raw, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		if raw, err = base64.URLEncoding.DecodeString(data); err != nil {
			return n, errData
		}
	}
	if err := json.Unmarshal(raw, &n); err != nil || !strings.Contains(n.EmailAddress, "@") || n.HistoryID == "" {
		return n, errData
	}
	return n, nil
}

func bearer(h string) string {
	const prefix = "bearer "
	if len(h) > len(prefix) && strings.EqualFold(h[:len(prefix)], prefix) {
		return strings.TrimSpace(h[len(prefix):])
	}
	return ""
}
