package db

import "embed"

// Migrations are the schema migrations, applied in order by shared/db/migrate.
//
//go:embed migrations/*.sql
var Migrations embed.FS
