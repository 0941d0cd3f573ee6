package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/personalcrm/core/shared/catalog"
)

// newSecrets creates the application secrets some function reads, keyed by
// the variable that carries their ARN.
func newSecrets(scope constructs.Construct, s Settings, fns []catalog.Function) map[string]awssecretsmanager.Secret {
	used := map[catalog.Resource]bool{}
	for _, fn := range fns {
		for _, r := range fn.Uses {
			used[r] = true
		}
	}
	out := map[string]awssecretsmanager.Secret{}
	for _, spec := range appSecrets {
		if !used[spec.Resource] {
			continue
		}
		// Generated names: a destroyed dev stack's secrets wait out their
		// recovery window, and a fixed name would block the next deploy.
		out[spec.Var] = awssecretsmanager.NewSecret(scope, jsii.String(spec.ID), &awssecretsmanager.SecretProps{
			Description: jsii.String("crm-" + s.Stage + " " + spec.Var + ": " + spec.Description),
			// Letters and digits only: safe in any header or URL; 64 of
			// them carry ~380 bits.
			GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
				PasswordLength:     jsii.Number(64),
				ExcludePunctuation: jsii.Bool(true),
			},
			RemovalPolicy: s.RemovalPolicy,
		})
	}
	return out
}

// secretsToFill lists the secrets whose generated value is a placeholder.
func secretsToFill(secrets map[string]awssecretsmanager.Secret) []secretSpec {
	var out []secretSpec
	for _, spec := range appSecrets {
		if spec.Fill && secrets[spec.Var] != nil {
			out = append(out, spec)
		}
	}
	return out
}
