package config

import (
	"context"
	"slices"
	"strings"
	"sync"
)

// secretPrefix marks a variable whose value names a secret rather than
// holding it.
const secretPrefix = "arn:aws:secretsmanager:"

// IsSecretRef reports whether a variable's value names a secret (a
// Secrets Manager ARN) rather than holding it.
func IsSecretRef(v string) bool { return strings.HasPrefix(strings.TrimSpace(v), secretPrefix) }

// secretField is a Secret field of Config and its variable.
type secretField struct {
	name  string // the variable
	value *Secret
}

// secretFields are the Secret fields of cfg, from the table of variables.
func secretFields(cfg *Config) []secretField {
	var out []secretField
	for _, v := range variables() {
		if p, ok := v.field(cfg).(*Secret); ok {
			out = append(out, secretField{name: v.name, value: p})
		}
	}
	return out
}

// secretRefs are the Secret fields of cfg whose value is a reference.
func secretRefs(cfg *Config) []secretField {
	return slices.DeleteFunc(secretFields(cfg), func(f secretField) bool { return !IsSecretRef(f.value.Reveal()) })
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
		results[f.value.Reveal()] = &result{}
	}
	var wg sync.WaitGroup
	for ref, res := range results {
		wg.Go(func() { res.val, res.err = r.ResolveSecret(ctx, ref) })
	}
	wg.Wait()
	for _, f := range fields {
		ref := f.value.Reveal()
		res := results[ref]
		if res.err != nil {
			p.add(f.name, "cannot read secret "+ref+": "+res.err.Error())
			continue
		}
		*f.value = Secret(res.val)
	}
}

// unresolvedSecrets reports the Secret fields that hold an ARN when
// nothing resolves them: used as they are, the ARN would become the key.
func unresolvedSecrets(cfg *Config, p *problemList) {
	for _, f := range secretRefs(cfg) {
		p.add(f.name, "holds a Secrets Manager ARN, which this process cannot resolve")
	}
}
