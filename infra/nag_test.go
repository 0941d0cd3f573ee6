package main

import (
	"strings"
	"testing"
)

// TestNag runs cdk-nag's AwsSolutions pack: every finding is fixed or
// suppressed with a reason, in every stage (prod on a custom domain in a
// hosted zone, dev without one and with the operator's certificate) and
// for a catalog with jobs.
func TestNag(t *testing.T) {
	for _, c := range []struct {
		name, stage string
	}{{"real", "dev"}, {"real", "prod"}, {"real", "dev+cert"}, {"real", "dev+endpoints"}, {"fixture", "dev"}, {"fixture", "prod"}} {
		t.Run(c.name+"/"+c.stage, func(t *testing.T) {
			cat := realCatalog
			if c.name == "fixture" {
				cat = fixtureCatalog
			}
			s := synth(t, c.name, c.stage, cat)
			if len(s.nagErrors) > 0 {
				t.Errorf("%d unsuppressed cdk-nag errors:\n%s", len(s.nagErrors), strings.Join(s.nagErrors, "\n"))
			}
			if len(s.nagWarnings) > 0 {
				t.Errorf("%d unsuppressed cdk-nag warnings:\n%s", len(s.nagWarnings), strings.Join(s.nagWarnings, "\n"))
			}
		})
	}
}
