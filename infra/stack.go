package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/triggers"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/personalcrm/core/shared/catalog"
)

// StackProps is what a stage's stack is made from: its settings and the
// catalog, passed in so tests can use a catalog of their own.
type StackProps struct {
	awscdk.StackProps
	Settings  Settings
	Functions []catalog.Function
	Schedules []catalog.Schedule
	// AssetRoot holds the built functions, one <name>/bootstrap each
	// (the repository's .build).
	AssetRoot string
}

// Stack is the whole system of one stage. Its maps expose the constructs
// made from the catalog, by catalog name, for tests and outputs.
type Stack struct {
	Stack     awscdk.Stack
	Functions map[string]awslambda.Function
	Routes    map[string]awsapigatewayv2.HttpRoute
	// Queues holds each job type's queue and dead-letter queue.
	Queues         map[string]*jobQueue
	Secrets        map[string]awssecretsmanager.Secret
	DatabaseSecret awssecretsmanager.ISecret
	Migration      triggers.Trigger
}

// NewStack builds the stack. It returns an error, before creating anything,
// when the catalog asks for something AWS cannot do or names what is not
// there, and when a function has no built asset.
func NewStack(scope constructs.Construct, id string, props *StackProps) (*Stack, error) {
	if err := validate(props.Functions, props.Schedules); err != nil {
		return nil, err
	}
	if err := checkAssets(props.AssetRoot, props.Functions); err != nil {
		return nil, err
	}
	s := props.Settings
	stack := awscdk.NewStack(scope, jsii.String(id), &props.StackProps)
	out := &Stack{
		Stack:     stack,
		Functions: map[string]awslambda.Function{},
		Routes:    map[string]awsapigatewayv2.HttpRoute{},
		Queues:    map[string]*jobQueue{},
	}

	net := newNetwork(stack, s)
	out.Secrets = newSecrets(stack, s, props.Functions)
	db := newDatabase(stack, s, net)
	out.DatabaseSecret = db.instance.Secret()
	cache := newCache(stack, s, net)
	api := newHTTPAPI(stack, s)
	ops := newOperations(stack, s)
	sched := newScheduler(stack, s)

	// One scope per entry under Functions (so no catalog name can clash
	// with the platform's constructs). Queues first: producers get their
	// URLs in their environment.
	functions := constructs.NewConstruct(stack, jsii.String("Functions"))
	scopes := map[string]constructs.Construct{}
	for _, fn := range props.Functions {
		scopes[fn.Name] = constructs.NewConstruct(functions, jsii.String(constructID(fn.Name)))
		if fn.Kind == catalog.Job {
			out.Queues[fn.Name] = newJobQueue(scopes[fn.Name], s, fn)
		}
	}

	w := &wiring{
		settings:    s,
		net:         net,
		db:          db,
		cache:       cache,
		secrets:     out.Secrets,
		queues:      out.Queues,
		authURL:     api.url,
		redirectURL: redirectURL(s, api),
		assetRoot:   props.AssetRoot,
	}
	for _, fn := range props.Functions {
		sc := scopes[fn.Name]
		f := w.newFunction(sc, fn)
		out.Functions[fn.Name] = f
		ops.watchFunction(sc, fn, f)
		switch fn.Kind {
		case catalog.Route:
			out.Routes[fn.Name] = api.addRoute(sc, fn, f)
		case catalog.Job:
			q := out.Queues[fn.Name]
			q.consume(f, fn)
			ops.watchQueue(sc, fn, q)
		}
	}

	byName := map[string]catalog.Function{}
	for _, fn := range props.Functions {
		byName[fn.Name] = fn
	}
	schedules := constructs.NewConstruct(stack, jsii.String("Schedules"))
	for _, sch := range props.Schedules {
		t := byName[sch.Target]
		sc := constructs.NewConstruct(schedules, jsii.String(constructID(sch.Name)))
		sched.add(sc, s, sch, t, out.Functions[t.Name], out.Queues[t.Name])
	}

	if m, ok := byName[migrateName]; ok {
		out.Migration = newMigration(scopes[m.Name], m, out.Functions[m.Name], db)
		// New code meets the schema it was written for: every other
		// function is created or updated only after the migration ran.
		for _, fn := range props.Functions {
			if fn.Name != migrateName {
				out.Functions[fn.Name].Node().AddDependency(out.Migration)
			}
		}
	}

	ops.watchAPI(stack, api)
	ops.dashboard(stack, api)
	outputs(stack, s, props.Functions, api, db, out)
	suppress(out, s, net, db, cache, props.Functions)
	return out, nil
}

// newMigration runs the migrate op during the deploy, after the database
// (and the proxy) exist. A migration error fails the trigger, so the deploy fails
// and rolls back before any new code runs.
func newMigration(scope constructs.Construct, entry catalog.Function, f awslambda.Function, db *database) triggers.Trigger {
	after := []constructs.Construct{db.instance}
	if db.proxy != nil {
		after = append(after, db.proxy)
	}
	after = append(after, db.network...)
	return triggers.NewTrigger(scope, jsii.String("Migration"), &triggers.TriggerProps{
		Handler:        f,
		InvocationType: triggers.InvocationType_REQUEST_RESPONSE,
		Timeout:        seconds(lambdaTimeout(entry.Timeout)),
		// Migrations are embedded in the binary: a new binary is a new
		// version, and runs again.
		ExecuteOnHandlerChange: jsii.Bool(true),
		// The proxy, its target and the security group rules that let the
		// function reach it; IAM and a young proxy may still refuse for a
		// few minutes, which the op retries.
		ExecuteAfter: &after,
	})
}

func outputs(stack awscdk.Stack, s Settings, fns []catalog.Function, api *httpAPI, db *database, out *Stack) {
	out1 := func(id, value, description string) {
		awscdk.NewCfnOutput(stack, jsii.String(id), &awscdk.CfnOutputProps{
			Value:       jsii.String(value),
			Description: jsii.String(description),
		})
	}
	// The stage's URL reads the execute-api endpoint, which is off on a
	// custom domain.
	apiURL := jsii.String(s.apiURL() + "/")
	if s.DomainName == "" {
		apiURL = api.stage.Url()
	}
	awscdk.NewCfnOutput(stack, jsii.String("ApiUrl"), &awscdk.CfnOutputProps{
		Value:       apiURL,
		Description: jsii.String("Base URL of the HTTP API (AUTH_URL); register <url>auth/google/callback with Google"),
	})
	if api.domain != nil && s.HostedZoneID == "" {
		awscdk.NewCfnOutput(stack, jsii.String("ApiDomainTarget"), &awscdk.CfnOutputProps{
			Value: api.domain.RegionalDomainName(),
			Description: jsii.String("Point " + s.DomainName + " here: a CNAME (or an alias in the hosted zone " +
				"of the ApiDomainTargetZone output) to API Gateway's regional name for the custom domain"),
		})
		awscdk.NewCfnOutput(stack, jsii.String("ApiDomainTargetZone"), &awscdk.CfnOutputProps{
			Value:       api.domain.RegionalHostedZoneId(),
			Description: jsii.String("Route 53 hosted zone id of ApiDomainTarget, for an alias record"),
		})
	}
	if db.proxy != nil {
		awscdk.NewCfnOutput(stack, jsii.String("DatabaseProxyEndpoint"), &awscdk.CfnOutputProps{
			Value:       db.proxy.Endpoint(),
			Description: jsii.String("RDS Proxy endpoint (IAM authentication, TLS)"),
		})
	} else {
		awscdk.NewCfnOutput(stack, jsii.String("DatabaseEndpoint"), &awscdk.CfnOutputProps{
			Value:       db.instance.DbInstanceEndpointAddress(),
			Description: jsii.String(fmt.Sprintf("PostgreSQL instance endpoint, port %d (IAM authentication, TLS with the RDS certificate authorities)", instancePort)),
		})
	}
	// One output per secret created with a placeholder value, for
	// `aws secretsmanager put-secret-value --secret-id <arn>`.
	for _, spec := range secretsToFill(out.Secrets) {
		awscdk.NewCfnOutput(stack, jsii.String("SecretToFill"+spec.ID), &awscdk.CfnOutputProps{
			Value:       out.Secrets[spec.Var].SecretArn(),
			Description: jsii.String(spec.Var + " holds a placeholder: " + spec.Description),
		})
	}
	google := false
	for _, fn := range fns {
		google = google || fn.Needs(catalog.Google)
	}
	if google && s.GoogleClientID == placeholderGoogleClientID {
		out1("GoogleClientIdToSet", "placeholder",
			"GOOGLE_CLIENT_ID is a placeholder: deploy with -c googleClientId=<id>")
	}
}

// checkAssets makes sure every function has its built bootstrap, so a
// missing build is one clear error rather than a failed deploy.
func checkAssets(root string, fns []catalog.Function) error {
	var missing []string
	for _, fn := range fns {
		if _, err := os.Stat(filepath.Join(root, fn.Name, "bootstrap")); err != nil {
			missing = append(missing, fn.Name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("no built bootstrap in %s for: %s (build the functions first)", root, strings.Join(missing, ", "))
	}
	return nil
}

// redirectURL is AUTH_REDIRECT_URL: the web app, or without one the API's
// GET /v1/user, which shows who signed in.
func redirectURL(s Settings, api *httpAPI) *string {
	if s.AppURL != "" {
		return jsii.String(s.AppURL)
	}
	return awscdk.Fn_Join(jsii.String(""), &[]*string{api.url, jsii.String(defaultLanding)})
}

// defaultLanding is where sign-in lands on a stage without a web app.
const defaultLanding = "/v1/user"
