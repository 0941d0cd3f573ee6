// User-export answers GET /v1/user/export.
package main

import (
	"github.com/personalcrm/core/functions/routes/account"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
)

func main() { platform.Main(catalog.UserExport, account.NewExport) }
