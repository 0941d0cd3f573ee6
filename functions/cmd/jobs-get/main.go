// Jobs-get answers GET /v1/jobs/{id}.
package main

import (
	"github.com/personalcrm/core/functions/routes/jobs"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
)

func main() { platform.Main(catalog.JobsGet, jobs.NewGet) }
