// Package functions is the table of every function of the catalog: the
// constructor each Lambda's main names. The local server builds every
// function from it, and a test keeps it equal to the catalog. No Lambda
// links it: each main imports only its own function's package.
package functions

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/personalcrm/core/functions/jobs/aianalysis"
	"github.com/personalcrm/core/functions/jobs/calendarsync"
	"github.com/personalcrm/core/functions/jobs/contactextraction"
	"github.com/personalcrm/core/functions/jobs/emailsync"
	"github.com/personalcrm/core/functions/jobs/enrichment"
	"github.com/personalcrm/core/functions/ops/gmailwatch"
	"github.com/personalcrm/core/functions/ops/maintenance"
	"github.com/personalcrm/core/functions/ops/migration"
	"github.com/personalcrm/core/functions/ops/outboxrelay"
	"github.com/personalcrm/core/functions/ops/syncaccounts"
	"github.com/personalcrm/core/functions/routes/account"
	"github.com/personalcrm/core/functions/routes/ai"
	"github.com/personalcrm/core/functions/routes/calendar"
	"github.com/personalcrm/core/functions/routes/contacts"
	"github.com/personalcrm/core/functions/routes/emails"
	"github.com/personalcrm/core/functions/routes/enqueue"
	"github.com/personalcrm/core/functions/routes/jobs"
	"github.com/personalcrm/core/functions/routes/openapi"
	"github.com/personalcrm/core/functions/routes/signin"
	"github.com/personalcrm/core/functions/routes/system"
	"github.com/personalcrm/core/functions/routes/webhooks"
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/platform"
)

// Builders are the constructors of the catalog's functions, by name: the
// ones their mains (functions/cmd/<name>/main.go) pass to platform.Main.
var Builders = map[string]platform.Builder{
	catalog.Health:           platform.Build(system.NewHealth),
	catalog.OpenAPI:          platform.Build(openapi.New),
	catalog.ContactsList:     platform.Build(contacts.NewList),
	catalog.ContactsCreate:   platform.Build(contacts.NewCreate),
	catalog.ContactsGet:      platform.Build(contacts.NewGet),
	catalog.ContactsUpdate:   platform.Build(contacts.NewUpdate),
	catalog.ContactsDelete:   platform.Build(contacts.NewDelete),
	catalog.ContactsEnrich:   platform.Build(enqueue.NewContactsEnrich),
	catalog.ContactsTimeline: platform.Build(contacts.NewTimeline),

	catalog.AuthLogin:    platform.Build(signin.NewLogin),
	catalog.AuthCallback: platform.Build(enqueue.NewAuthCallback),
	catalog.AuthLogout:   platform.Build(signin.NewLogout),

	catalog.UserGet:               platform.Build(account.NewGet),
	catalog.UserUpdate:            platform.Build(account.NewUpdate),
	catalog.UserFeatures:          platform.Build(account.NewFeatures),
	catalog.UserSessionsList:      platform.Build(account.NewSessionsList),
	catalog.UserSessionsRevoke:    platform.Build(account.NewSessionsRevoke),
	catalog.UserSessionsRevokeAll: platform.Build(account.NewSessionsRevokeAll),
	catalog.UserGoogleDisconnect:  platform.Build(account.NewDisconnect),
	catalog.UserDelete:            platform.Build(account.NewDelete),
	catalog.UserExport:            platform.Build(account.NewExport),

	catalog.JobsGet:    platform.Build(jobs.NewGet),
	catalog.EmailsList: platform.Build(emails.NewList),
	catalog.EmailsGet:  platform.Build(emails.NewGet),
	catalog.EmailsSync: platform.Build(enqueue.NewEmailsSync),

	catalog.CalendarSyncRequest: platform.Build(calendar.NewSync),

	catalog.AIAnalyze:      platform.Build(enqueue.NewAIAnalyze),
	catalog.AIInsightsList: platform.Build(ai.NewList),
	catalog.WebhooksGmail:  platform.Build(webhooks.NewGmail),

	catalog.EmailSync:         platform.Build(emailsync.New),
	catalog.ContactExtraction: platform.Build(contactextraction.New),
	catalog.Enrichment:        platform.Build(enrichment.New),
	catalog.AIAnalysis:        platform.Build(aianalysis.New),
	catalog.CalendarSync:      platform.Build(calendarsync.New),

	catalog.Migrate:      platform.Build(migration.New),
	catalog.OutboxRelay:  platform.Build(outboxrelay.New),
	catalog.SyncAccounts: platform.Build(syncaccounts.New),
	catalog.GmailWatch:   platform.Build(gmailwatch.New),
	catalog.Maintenance:  platform.Build(maintenance.New),
}

// Offline builds function name with its constructor, as its Lambda does,
// in the test environment and connected to nothing: for documents and
// checks that need the handler, not a running function.
func Offline(name string) (platform.Handler, error) {
	build, ok := Builders[name]
	if !ok {
		return nil, fmt.Errorf("%s: no constructor", name)
	}
	app, err := platform.Init(context.Background(), name, config.WithEnv(map[string]string{config.VarAppEnv: string(config.Test)}))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	defer app.Close()
	h, err := build(app)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return h, nil
}

// Document is the OpenAPI 3.1 document of every route, generated from the
// handlers' input and output types: each route built Offline.
func Document() ([]byte, error) {
	var routes []api.Route
	for _, fn := range catalog.Routes() {
		h, err := Offline(fn.Name)
		if err != nil {
			return nil, err
		}
		r, ok := h.(api.Route)
		if !ok {
			return nil, fmt.Errorf("%s: a route built as a %T", fn.Name, h)
		}
		routes = append(routes, r)
	}
	b, err := json.MarshalIndent(api.Describe(api.Options{}, routes...), "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
