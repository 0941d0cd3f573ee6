// Health answers GET /health.
package main

import (
	"github.com/personalcrm/core/functions/routes/system"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
)

func main() { platform.Main(catalog.Health, system.NewHealth) }
