// Auth-logout answers POST /auth/logout.
package main

import (
	"github.com/personalcrm/core/functions/routes/signin"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
)

func main() { platform.Main(catalog.AuthLogout, signin.NewLogout) }
