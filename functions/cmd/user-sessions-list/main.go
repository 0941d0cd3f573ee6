// User-sessions-list answers GET /v1/user/sessions.
package main

import (
	"github.com/personalcrm/core/functions/routes/account"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
)

func main() { platform.Main(catalog.UserSessionsList, account.NewSessionsList) }
