package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/domain/user"
	"github.com/personalcrm/core/shared/feature"
	"github.com/personalcrm/core/shared/platform"
)

const flagUsage = `usage:
  go run ./functions/dev flag list USER
  go run ./functions/dev flag enable FLAG USER
  go run ./functions/dev flag disable FLAG USER

USER is an email address or a user id. FLAG is one of: %s.
The database is DATABASE_URL's; the environment gates (FEATURE_*) are this
shell's. A flag is on for a user only when both the gate and the user's
setting are on.
`

// flagCommand turns a feature flag on or off for one user, or lists the
// user's flags, so that operators need no SQL. Unlike the server it runs
// against any environment's database.
func flagCommand(ctx context.Context, args []string, out io.Writer) error {
	usage := func() error {
		names := ""
		for i, f := range feature.All() {
			if i > 0 {
				names += ", "
			}
			names += string(f)
		}
		//lint:ignore ST1005 the usage text is printed whole, ending with its last line
		return fmt.Errorf(flagUsage, names)
	}
	var verb, who string
	var flag feature.Flag
	switch {
	case len(args) == 2 && args[0] == "list":
		verb, who = args[0], args[1]
	case len(args) == 3 && (args[0] == "enable" || args[0] == "disable"):
		f, err := feature.Parse(args[1])
		if err != nil {
			return fmt.Errorf("unknown flag %q\n%w", args[1], usage())
		}
		verb, flag, who = args[0], f, args[2]
	default:
		return usage()
	}

	cfg, err := config.Load(ctx, catalog.Function{Name: "dev-flag", Uses: []catalog.Resource{catalog.Database}})
	if err != nil {
		return err
	}
	pool, err := db.Open(ctx, cfg.DatabaseURL, db.Options{Mode: db.Local, MaxConns: 2})
	if err != nil {
		return err
	}
	defer pool.Close()

	users := user.NewService(pool)
	var u user.User
	if id, perr := uuid.Parse(who); perr == nil {
		u, err = users.Get(ctx, id)
	} else {
		u, err = users.FindByEmail(ctx, who)
	}
	if err != nil {
		return fmt.Errorf("user %s: %w", who, err)
	}
	settings := feature.NewSettings(pool)
	if cfg.RedisURL != "" {
		// Drop the user's cached settings so running functions see the
		// change at once; without a shared cache they see it within the
		// session cache's lifetime.
		c, err := platform.OpenCache(cfg, nil, nil)
		if err == nil {
			defer c.Close()
			settings = settings.WithCache(c)
		}
	}
	var own map[string]bool
	if verb == "list" {
		own, err = settings.Get(ctx, u.ID)
	} else {
		own, err = settings.Set(ctx, u.ID, flag, verb == "enable")
	}
	if err != nil {
		return err
	}
	return printFlags(out, u, feature.GatesOf(cfg.Features), own)
}

func printFlags(out io.Writer, u user.User, gates feature.Gates, own map[string]bool) error {
	fmt.Fprintf(out, "%s (%s)\n", u.Email, u.ID)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FLAG\tUSER\tENVIRONMENT\tEFFECTIVE")
	onOff := func(b bool) string {
		if b {
			return "on"
		}
		return "off"
	}
	set := feature.Evaluate(gates, own)
	for _, f := range feature.All() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f, onOff(own[string(f)]), onOff(gates[f]), onOff(set.Enabled(f)))
	}
	return tw.Flush()
}
