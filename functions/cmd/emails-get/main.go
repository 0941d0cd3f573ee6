// Emails-get answers GET /v1/emails/{id}.
package main

import (
	"github.com/personalcrm/core/functions/routes/emails"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
)

func main() { platform.Main(catalog.EmailsGet, emails.NewGet) }
