// User-google-disconnect answers POST /v1/user/google/disconnect.
package main

import (
	"github.com/personalcrm/core/functions/routes/account"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
)

func main() { platform.Main(catalog.UserGoogleDisconnect, account.NewDisconnect) }
