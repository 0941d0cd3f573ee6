// AI-insights-list answers GET /v1/ai/insights.
package main

import (
	"github.com/personalcrm/core/functions/routes/ai"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
)

func main() { platform.Main(catalog.AIInsightsList, ai.NewList) }
