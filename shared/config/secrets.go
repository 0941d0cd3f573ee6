package config

import (
	"context"
	"reflect"
	"strings"
)

// secretPrefix marks a variable whose value names a secret rather than
// holding it.
const secretPrefix = "arn:aws:secretsmanager:"

// resolveSecrets replaces every Secret field that holds a Secrets Manager
// ARN with the secret's value. Each distinct ARN is fetched once.
func resolveSecrets(ctx context.Context, cfg *Config, r SecretResolver, p *problemList) {
	names := fieldVars(reflect.TypeOf(*cfg))
	v := reflect.ValueOf(cfg).Elem()
	t := v.Type()
	seen := map[string]string{}
	for i := 0; i < t.NumField(); i++ {
		f := v.Field(i)
		if f.Type() != reflect.TypeOf(Secret("")) {
			continue
		}
		ref := f.String()
		if !strings.HasPrefix(ref, secretPrefix) {
			continue
		}
		val, ok := seen[ref]
		if !ok {
			s, err := r.ResolveSecret(ctx, ref)
			if err != nil {
				p.add(names[t.Field(i).Name], "cannot read secret "+ref+": "+err.Error())
				continue
			}
			val = s
			seen[ref] = s
		}
		f.SetString(val)
	}
}
