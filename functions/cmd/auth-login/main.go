// Auth-login answers GET /auth/google/login.
package main

import (
	"github.com/personalcrm/core/functions/routes/signin"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
)

func main() { platform.Main(catalog.AuthLogin, signin.NewLogin) }
