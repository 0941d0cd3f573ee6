package ai

import (
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/domain/insight"
	"github.com/personalcrm/core/shared/platform"
	"github.com/personalcrm/core/shared/queue/sqsqueue"
)

// NewAnalyze builds POST /v1/ai/analyze; it enqueues on SQS.
func NewAnalyze(app *platform.App) (api.Route, error) {
	return Analyze(insight.NewService(app.DB, sqsqueue.Queue(app))), nil
}

// NewList builds GET /v1/ai/insights.
func NewList(app *platform.App) (api.Route, error) {
	return List(insight.NewService(app.DB, nil)), nil
}
