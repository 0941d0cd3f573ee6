// Enrichment consumes its SQS queue: it fills one contact's details from
// the user's Google Contacts per job.
package main

import (
	"github.com/personalcrm/core/functions/jobs/enrichment"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
)

func main() { platform.Main(catalog.Enrichment, enrichment.New) }
