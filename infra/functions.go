package main

import (
	"path/filepath"
	"sort"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/config"
)

// wiring is what a function's settings are made from besides its entry.
type wiring struct {
	settings Settings
	net      *network
	db       *database
	cache    *cache
	secrets  map[string]awssecretsmanager.Secret
	queues   map[string]*jobQueue
	// authURL is the API's public base URL (AUTH_URL); redirectURL is
	// where the browser lands after signing in (AUTH_REDIRECT_URL).
	authURL, redirectURL *string
	// assetRoot holds <name>/bootstrap for every function.
	assetRoot string
}

// newFunction creates the Lambda of one catalog entry, with its log group,
// configuration and exactly the permissions its entry names.
func (w *wiring) newFunction(scope constructs.Construct, fn catalog.Function) awslambda.Function {
	s := w.settings
	logs := awslogs.NewLogGroup(scope, jsii.String("Logs"), &awslogs.LogGroupProps{
		LogGroupName:  jsii.String("/aws/lambda/" + functionName(s, fn)),
		Retention:     s.LogRetention,
		RemovalPolicy: s.RemovalPolicy,
	})
	// Its own role: it may write to its own log group only (the AWS-managed
	// basic execution policy would allow any log group), manage its ENIs in
	// the VPC, and touch what its entry names.
	role := awsiam.NewRole(scope, jsii.String("Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("Lambda " + functionName(s, fn)),
		ManagedPolicies: &[]awsiam.IManagedPolicy{
			awsiam.ManagedPolicy_FromAwsManagedPolicyName(jsii.String(vpcAccessPolicy)),
		},
	})
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("logs:CreateLogStream", "logs:PutLogEvents"),
		Resources: jsii.Strings(*logs.LogGroupArn()),
	}))
	f := awslambda.NewFunction(scope, jsii.String("Function"), &awslambda.FunctionProps{
		Role:           role,
		FunctionName:   jsii.String(functionName(s, fn)),
		Description:    optional(truncate(fn.Summary, 256)),
		Runtime:        awslambda.Runtime_PROVIDED_AL2023(),
		Architecture:   awslambda.Architecture_ARM_64(),
		Handler:        jsii.String("bootstrap"),
		Code:           awslambda.Code_FromAsset(jsii.String(filepath.Join(w.assetRoot, fn.Name)), nil),
		MemorySize:     jsii.Number(float64(fn.MemoryMB)),
		Timeout:        awscdk.Duration_Seconds(jsii.Number(lambdaTimeout(fn.Timeout).Seconds())),
		Environment:    w.environment(fn),
		Tracing:        awslambda.Tracing_ACTIVE,
		LogGroup:       logs,
		Vpc:            w.net.vpc,
		VpcSubnets:     w.net.private,
		SecurityGroups: &[]awsec2.ISecurityGroup{w.net.functions},
		// In dual-stack subnets the function sends IPv6 too: Google and
		// the AWS APIs it calls leave through the egress-only gateway.
		Ipv6AllowedForDualStack: jsii.Bool(s.IPv6Egress),
		// Zero leaves the function on the account's unreserved pool.
		ReservedConcurrentExecutions: reservedConcurrency(fn),
	})

	if fn.Needs(catalog.Database) {
		if user := databaseUser(fn); w.db.passwordSignIn(user) {
			// The master secret's current value, read at init; it is
			// encrypted with the AWS-managed key, which needs no grant.
			f.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Actions:   jsii.Strings("secretsmanager:GetSecretValue"),
				Resources: jsii.Strings(*w.db.instance.Secret().SecretArn()),
			}))
		} else {
			w.db.grantConnect(f, user)
		}
	}
	if fn.Needs(catalog.Cache) {
		// IAM authentication checks both: the cache, and the user the
		// token signs in as.
		f.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:   jsii.Strings("elasticache:Connect"),
			Resources: &[]*string{w.cache.arn(), w.cache.user.AttrArn()},
		}))
	}
	for _, spec := range secretsOf(fn) {
		f.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:   jsii.Strings("secretsmanager:GetSecretValue"),
			Resources: jsii.Strings(*w.secrets[spec.Var].SecretArn()),
		}))
	}
	for _, job := range fn.Enqueues {
		f.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:   jsii.Strings("sqs:SendMessage"),
			Resources: jsii.Strings(*w.queues[job].queue.QueueArn()),
		}))
	}
	if fn.Needs(catalog.QueueStats) {
		// Reading attributes only: the depths, and the redrive policy
		// that names each dead-letter queue.
		var arns []*string
		for _, job := range sortedKeys(w.queues) {
			arns = append(arns, w.queues[job].queue.QueueArn(), w.queues[job].dlq.QueueArn())
		}
		if len(arns) > 0 {
			f.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Actions:   jsii.Strings("sqs:GetQueueAttributes"),
				Resources: &arns,
			}))
		}
	}
	return f
}

// databaseUser is the PostgreSQL user fn connects as: the schema's owner
// for migrate, which alone changes the schema; the runtime role for every
// other function.
func databaseUser(fn catalog.Function) string {
	if fn.Name == catalog.Migrate {
		return dbUser
	}
	return dbAppUser
}

// vpcAccessPolicy lets Lambda create and delete the function's network
// interfaces in the VPC.
const vpcAccessPolicy = "service-role/AWSLambdaVPCAccessExecutionRole"

// environment is the function's configuration: the variables shared/config
// reads for the resources its entry uses, secrets as ARNs.
func (w *wiring) environment(fn catalog.Function) *map[string]*string {
	env := map[string]*string{
		config.VarAppEnv:   jsii.String(string(config.Production)),
		config.VarLogLevel: jsii.String(w.settings.LogLevel),
	}
	for _, v := range w.settings.Features {
		env[v] = jsii.String("true")
	}
	if fn.Needs(catalog.Database) {
		env[config.VarDatabaseURL] = w.db.appURL
		if databaseUser(fn) == dbUser {
			env[config.VarDatabaseURL] = w.db.ownerURL
		}
		if user := databaseUser(fn); w.db.passwordSignIn(user) {
			env[config.VarDatabaseSecret] = w.db.instance.Secret().SecretArn()
		} else {
			env[config.VarDatabaseIAMAuth] = jsii.String("true")
		}
	}
	if fn.Needs(catalog.Cache) {
		env[config.VarRedisURL] = w.cache.url
		env[config.VarCacheIAMUser] = jsii.String(w.cache.userID)
		env[config.VarCacheName] = w.cache.name
		env[config.VarCacheMode] = jsii.String(w.cache.mode)
	}
	// Every route builds its cookies and accepts cookie-authenticated
	// writes from these origins only; sign-in redirects with them.
	if fn.Kind == catalog.Route || fn.Needs(catalog.Google) {
		env[config.VarAuthURL] = w.authURL
		env[config.VarAuthRedirectURL] = w.redirectURL
		if len(w.settings.AllowedOrigins) > 0 {
			env[config.VarCORSOrigins] = jsii.String(strings.Join(w.settings.AllowedOrigins, ","))
		}
	}
	if fn.Needs(catalog.Google) {
		env[config.VarGoogleClientID] = jsii.String(w.settings.GoogleClientID)
	}
	// Gmail's push subscription signs its tokens for the endpoint's URL,
	// as its service account. Without them pushes are refused.
	if fn.Name == catalog.WebhooksGmail && w.settings.GooglePushServiceAccount != "" {
		env[config.VarGoogleWebhookURL] = awscdk.Fn_Join(jsii.String(""), &[]*string{w.authURL, jsii.String(fn.Path)})
		env[config.VarGooglePushServiceAccount] = jsii.String(w.settings.GooglePushServiceAccount)
		env[config.VarGooglePubSubSubscription] = jsii.String(w.settings.GooglePubSubSubscription)
	}
	if fn.Name == catalog.GmailWatch && w.settings.GooglePubSubTopic != "" {
		env[config.VarGooglePubSubTopic] = jsii.String(w.settings.GooglePubSubTopic)
	}
	for _, spec := range secretsOf(fn) {
		env[spec.Var] = w.secrets[spec.Var].SecretArn()
	}
	if len(secretsOf(fn)) > 0 && w.settings.SecretsRevision != "" {
		env[secretsRevisionVar] = jsii.String(w.settings.SecretsRevision)
	}
	for _, job := range queuesOf(fn, sortedKeys(w.queues)) {
		env[config.QueueURLVar(job)] = w.queues[job].queue.QueueUrl()
	}
	return &env
}

// secretsRevisionVar is read by no code: a new value is a configuration
// change, so Lambda replaces the function's execution environments, and
// the new ones read every secret again.
const secretsRevisionVar = "SECRETS_REVISION"

// reservedConcurrency caps the function at its entry's MaxConcurrency. A
// job's cap matches its event source's, which cannot go below two: a lower
// reserved concurrency would throttle the poller, and each throttled
// delivery counts against the job's max attempts.
func reservedConcurrency(fn catalog.Function) *float64 {
	n := fn.MaxConcurrency
	if fn.Kind == catalog.Job {
		n = eventSourceMaxConcurrency(fn)
	}
	if n == 0 {
		return nil
	}
	return jsii.Number(float64(n))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return jsii.String(s)
}

// functionName is the Lambda's name: crm-dev-contacts-get.
func functionName(s Settings, fn catalog.Function) string {
	return "crm-" + s.Stage + "-" + fn.Name
}

// constructID turns a catalog name into a construct id: contacts-get ->
// ContactsGet, which keeps logical ids readable.
func constructID(name string) string {
	var b strings.Builder
	for _, part := range strings.FieldsFunc(name, func(r rune) bool { return r == '-' || r == '_' || r == '.' }) {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
