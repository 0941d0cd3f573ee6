package config

import (
	"context"
	"reflect"
	"strings"
	"sync"
)

// secretPrefix marks a variable whose value names a secret rather than
// holding it.
const secretPrefix = "arn:aws:secretsmanager:"

// IsSecretRef reports whether a variable's value names a secret (a
// Secrets Manager ARN) rather than holding it.
func IsSecretRef(v string) bool { return strings.HasPrefix(strings.TrimSpace(v), secretPrefix) }

// secretField is a Secret field of Config whose value is a reference.
type secretField struct {
	v    reflect.Value
	name string // the variable
	ref  string
}

func secretRefs(cfg *Config) []secretField {
	names := fieldVars(reflect.TypeOf(*cfg))
	v := reflect.ValueOf(cfg).Elem()
	t := v.Type()
	var out []secretField
	for i := 0; i < t.NumField(); i++ {
		f := v.Field(i)
		if f.Type() != reflect.TypeOf(Secret("")) || !IsSecretRef(f.String()) {
			continue
		}
		out = append(out, secretField{v: f, name: names[t.Field(i).Name], ref: f.String()})
	}
	return out
}

// resolveSecrets replaces every Secret field that holds a Secrets Manager
// ARN with the secret's value. Each distinct ARN is fetched once, all of
// them at the same time, so a cold start waits for the slowest, not the
// sum. A failure names the variable and the ARN, never a value.
func resolveSecrets(ctx context.Context, cfg *Config, r SecretResolver, p *problemList) {
	fields := secretRefs(cfg)
	type result struct {
		val string
		err error
	}
	results := map[string]*result{}
	for _, f := range fields {
		results[f.ref] = &result{}
	}
	var wg sync.WaitGroup
	for ref, res := range results {
		wg.Go(func() { res.val, res.err = r.ResolveSecret(ctx, ref) })
	}
	wg.Wait()
	for _, f := range fields {
		res := results[f.ref]
		if res.err != nil {
			p.add(f.name, "cannot read secret "+f.ref+": "+res.err.Error())
			continue
		}
		f.v.SetString(res.val)
	}
}

// unresolvedSecrets reports the Secret fields that hold an ARN when
// nothing resolves them: used as they are, the ARN would become the key.
func unresolvedSecrets(cfg *Config, p *problemList) {
	for _, f := range secretRefs(cfg) {
		p.add(f.name, "holds a Secrets Manager ARN, which this process cannot resolve")
	}
}
