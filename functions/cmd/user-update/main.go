// User-update answers PATCH /v1/user.
package main

import (
	"github.com/personalcrm/core/functions/routes/account"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
)

func main() { platform.Main(catalog.UserUpdate, account.NewUpdate) }
