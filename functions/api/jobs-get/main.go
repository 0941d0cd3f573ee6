// Jobs-get answers GET /v1/jobs/{id}.
package main

import (
	"context"

	"github.com/personalcrm/core/functions/routes/jobs"
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
	"github.com/personalcrm/core/shared/queue"
)

func main() {
	app, err := platform.Init(context.Background(), catalog.JobsGet)
	if err != nil {
		platform.Fatal(err)
	}
	api.Start(app, jobs.Get(queue.NewReader(app.DB)))
}
