// Sync-accounts runs every catalog.MailSyncPeriod: it enqueues an
// incremental mail sync of every Google account that can sync and was not
// synced lately.
package main

import (
	"github.com/personalcrm/core/functions/ops/syncaccounts"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
)

func main() { platform.Main(catalog.SyncAccounts, syncaccounts.New) }
