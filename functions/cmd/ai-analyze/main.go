// AI-analyze answers POST /v1/ai/analyze.
package main

import (
	"github.com/personalcrm/core/functions/routes/enqueue"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
)

func main() { platform.Main(catalog.AIAnalyze, enqueue.NewAIAnalyze) }
