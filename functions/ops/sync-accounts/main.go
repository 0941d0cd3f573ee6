// Sync-accounts runs every catalog.MailSyncPeriod: it enqueues an
// incremental mail sync of every Google account that can sync and was not
// synced lately.
package main

import (
	"context"

	"github.com/personalcrm/core/functions/workers"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
)

func main() {
	app, err := platform.Init(context.Background(), catalog.SyncAccounts)
	if err != nil {
		platform.Fatal(err)
	}
	workers.StartOp(app, workers.SyncAccounts(app.DB, workers.Queue(app), workers.SyncAccountsOptions{}))
}
