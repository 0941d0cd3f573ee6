// Outbox-relay runs every minute: it sends the jobs that are due and were
// not sent when their transaction committed, and the delayed ones whose
// time has come.
package main

import (
	"github.com/personalcrm/core/functions/ops/outboxrelay"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
)

func main() { platform.Main(catalog.OutboxRelay, outboxrelay.New) }
