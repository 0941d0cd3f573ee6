// Auth-callback answers GET /auth/google/callback.
package main

import (
	"github.com/personalcrm/core/functions/routes/enqueue"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
)

func main() { platform.Main(catalog.AuthCallback, enqueue.NewAuthCallback) }
