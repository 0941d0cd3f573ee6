package ai

import (
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/domain/insight"
	"github.com/personalcrm/core/shared/platform"
)

// NewList builds GET /v1/ai/insights.
func NewList(app *platform.App) (api.Route, error) {
	return List(insight.NewService(app.DB, nil)), nil
}
