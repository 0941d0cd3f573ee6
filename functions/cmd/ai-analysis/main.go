// AI-analysis consumes its SQS queue: it runs one analysis of a user's
// data with an OpenAI chat model per job and stores the insight.
package main

import (
	"github.com/personalcrm/core/functions/jobs/aianalysis"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
)

func main() { platform.Main(catalog.AIAnalysis, aianalysis.New) }
