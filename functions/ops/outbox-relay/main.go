// Outbox-relay runs every minute: it sends the jobs that are due and were
// not sent when their transaction committed, and the delayed ones whose
// time has come.
package main

import (
	"context"

	"github.com/personalcrm/core/functions/workers"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
)

func main() {
	app, err := platform.Init(context.Background(), catalog.OutboxRelay)
	if err != nil {
		platform.Fatal(err)
	}
	workers.StartOp(app, workers.Relay(workers.Queue(app)))
}
