// Migrate applies the database migrations embedded in it. The deploy
// invokes it (a CDK trigger) before any other function is updated; it
// returns an error when a migration fails, which fails the deploy.
package main

import (
	"github.com/personalcrm/core/functions/ops/migration"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
)

func main() { platform.Main(catalog.Migrate, migration.New) }
