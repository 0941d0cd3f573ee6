// User-sessions-revoke-all answers POST /v1/user/sessions/revoke-all.
package main

import (
	"github.com/personalcrm/core/functions/routes/account"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
)

func main() { platform.Main(catalog.UserSessionsRevokeAll, account.NewSessionsRevokeAll) }
