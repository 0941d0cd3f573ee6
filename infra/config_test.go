package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/personalcrm/core/functions"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/queue/worker"
)

// TestEveryFunctionConfigures loads, for every function, the configuration
// its Lambda would read: the template's variables with each reference
// resolved to a value of the kind CloudFormation puts there, and each
// secret ARN resolved as the function's Secrets Manager client would,
// with a value of the secret's format. A variable the code needs in
// production and the stack does not set fails here.
func TestEveryFunctionConfigures(t *testing.T) {
	for _, c := range []struct{ name, stage string }{{"real", "dev"}, {"real", "prod"}, {"fixture", "dev"}} {
		t.Run(c.name+"/"+c.stage, func(t *testing.T) {
			cat := realCatalog
			if c.name == "fixture" {
				cat = fixtureCatalog
			}
			s := synth(t, c.name, c.stage, cat)
			for _, fn := range s.fns {
				env, secrets := s.lambdaEnv(fn.Name)
				if env[config.VarAppEnv] != string(config.Production) {
					t.Errorf("%s: APP_ENV %q", fn.Name, env[config.VarAppEnv])
				}
				cfg, err := config.Load(context.Background(), fn, config.WithEnv(env), config.WithSecrets(secrets))
				if err != nil {
					t.Errorf("%s: %v", fn.Name, err)
					continue
				}
				// Without a proxy, migrate signs in as the master user with
				// the master secret's password; everything else with IAM.
				_, password, _ := cfg.DatabaseCredentials()
				if fn.Needs(catalog.Database) && !cfg.DatabaseIAMAuth && !(password && !s.settings.DBProxy && fn.Name == catalog.Migrate) {
					t.Errorf("%s: connects without IAM authentication", fn.Name)
				}
				if password && (s.settings.DBProxy || fn.Name != catalog.Migrate) {
					t.Errorf("%s: signs in with the master password", fn.Name)
				}
				if fn.Needs(catalog.Cache) && (!cfg.CacheIAMAuth() || cfg.RedisPassword != "") {
					t.Errorf("%s: signs in to the cache without IAM authentication", fn.Name)
				}
				if fn.Kind == catalog.Route && (cfg.AuthURL == nil || cfg.AuthRedirectURL == nil) {
					t.Errorf("%s: a route without AUTH_URL and AUTH_REDIRECT_URL rejects cookie-authenticated writes", fn.Name)
				}
			}
		})
	}
}

// TestScheduledJobsDecode: a schedule that targets a job sends a message
// the job's worker can run: its payload decodes as the job type's.
func TestScheduledJobsDecode(t *testing.T) {
	eachCatalog(t, func(t *testing.T, s *synthesized) {
		byName := map[string]catalog.Function{}
		for _, fn := range s.fns {
			byName[fn.Name] = fn
		}
		jobSchedules := 0
		for _, sch := range s.scheds {
			if byName[sch.Target].Kind != catalog.Job {
				continue
			}
			jobSchedules++
			var input string
			for _, id := range s.ofType("AWS::Scheduler::Schedule") {
				p := s.resources[id].Properties
				if p["Name"] == "crm-"+s.settings.Stage+"-"+sch.Name {
					input, _ = p["Target"].(map[string]any)["Input"].(string)
				}
			}
			h, err := functions.Offline(sch.Target)
			if err != nil {
				t.Fatal(err)
			}
			if err := h.(*worker.Worker).Accepts([]byte(input)); err != nil {
				t.Errorf("schedule %s sends %q, which job %s cannot decode: %v", sch.Name, input, sch.Target, err)
			}
		}
		if s.name == "fixture" && jobSchedules == 0 {
			t.Error("the fixture has no schedule of a job")
		}
	})
}

// lambdaEnv is the environment the function's Lambda gets, with every
// CloudFormation reference replaced by a value of its kind, and the
// resolver that answers its secret ARNs.
func (s *synthesized) lambdaEnv(name string) (map[string]string, placeholderSecrets) {
	env := map[string]string{}
	secrets := placeholderSecrets{}
	for k, v := range s.env(name) {
		env[k] = s.resolve(v)
		if config.IsSecretRef(env[k]) {
			secrets[env[k]] = secretValue(k)
		}
	}
	return env, secrets
}

// resolve turns a template value into the string CloudFormation would
// make of it.
func (s *synthesized) resolve(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case map[string]any:
		if j, ok := x["Fn::Join"].([]any); ok {
			var parts []string
			for _, p := range asSlice(j[1]) {
				parts = append(parts, s.resolve(p))
			}
			return strings.Join(parts, fmt.Sprint(j[0]))
		}
		if r, ok := x["Ref"].(string); ok {
			switch r {
			case "AWS::Region":
				return "eu-west-1"
			case "AWS::URLSuffix":
				return "amazonaws.com"
			case "AWS::AccountId":
				return "123456789012"
			case "AWS::Partition":
				return "aws"
			}
			id := strings.ToLower(r)
			switch s.resources[r].Type {
			case "AWS::SecretsManager::Secret", "AWS::SecretsManager::SecretTargetAttachment":
				return "arn:aws:secretsmanager:eu-west-1:123456789012:secret:" + id + "-AbCdEf"
			case "AWS::SQS::Queue":
				return "https://sqs.eu-west-1.amazonaws.com/123456789012/" + id
			}
			return id
		}
		if ga, ok := x["Fn::GetAtt"].([]any); ok {
			switch attr := fmt.Sprint(ga[1]); {
			case attr == "ApiEndpoint":
				return "https://" + strings.ToLower(fmt.Sprint(ga[0])) + ".execute-api.eu-west-1.amazonaws.com"
			case strings.HasSuffix(attr, "Port"):
				return "6379"
			}
			return strings.ToLower(fmt.Sprint(ga[0])) + ".eu-west-1.amazonaws.com"
		}
	}
	panic(fmt.Sprintf("unresolvable template value %v", v))
}

// secretValue is a value in the format of the secret a variable names, as
// generated at deploy or filled in by an operator.
func secretValue(v string) string {
	switch v {
	case config.VarTokenKeys:
		return "k1:" + base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 32)))
	case config.VarOpenAIAPIKey:
		return "sk-proj-placeholder"
	case config.VarGoogleClientSecret:
		return "GOCSPX-placeholder"
	case config.VarDatabaseSecret:
		// RDS's generated secret, with its instance attached.
		return `{"username":"` + dbUser + `","password":"` + strings.Repeat("p", 30) + `","engine":"postgres","host":"db","port":5433,"dbname":"crm"}`
	}
	return strings.Repeat("x", 64) // generated: 64 letters and digits
}

// placeholderSecrets resolves the ARNs of lambdaEnv.
type placeholderSecrets map[string]string

func (p placeholderSecrets) ResolveSecret(_ context.Context, arn string) (string, error) {
	v, ok := p[arn]
	if !ok {
		return "", fmt.Errorf("no secret %s", arn)
	}
	return v, nil
}
