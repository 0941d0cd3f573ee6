// Maintenance runs daily: it deletes finished jobs past their retention,
// gives up jobs whose message is gone, deletes expired sessions and
// verification tokens, and seals provider tokens sealed with an older
// TOKEN_KEYS key again with the newest.
package main

import (
	"github.com/personalcrm/core/functions/ops/maintenance"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
)

func main() { platform.Main(catalog.Maintenance, maintenance.New) }
