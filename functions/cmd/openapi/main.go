// Openapi answers GET /openapi.json.
package main

import (
	"github.com/personalcrm/core/functions/routes/openapi"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
)

func main() { platform.Main(catalog.OpenAPI, openapi.New) }
