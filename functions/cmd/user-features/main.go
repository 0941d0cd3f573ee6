// User-features answers GET /v1/user/features.
package main

import (
	"github.com/personalcrm/core/functions/routes/account"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
)

func main() { platform.Main(catalog.UserFeatures, account.NewFeatures) }
