// Command infra is the CDK app of the CRM backend: one stack per stage, with
// a Lambda, route, queue or schedule for every entry of shared/catalog.
//
//	cdk synth -c stage=dev|prod [-c appUrl=https://app.example.com/] [-c googleClientId=...]
//	          [-c alarmEmail=ops@example.com] [-c features=ai-agents,enrichment] [-c secretsRevision=2]
//	          [-c googlePubsubTopic=projects/<project>/topics/<topic>]
//	          [-c googlePushServiceAccount=<email> -c googlePubsubSubscription=projects/<project>/subscriptions/<name>]
//	          [-c allowedOrigins=https://app.example.com,https://admin.example.com]
//	          [-c domainName=api.example.com (-c hostedZoneId=Z... | -c certificateArn=arn:aws:acm:...)]
//	          [-c nag=true]
//	          [-c assetRoot=<dir with <name>/bootstrap>]
//
// prod requires appUrl and googleClientId; the webhooks feature requires
// googlePushServiceAccount and googlePubsubSubscription.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/personalcrm/core/shared/catalog"
)

func main() {
	defer jsii.Close()
	app := awscdk.NewApp(nil)
	if err := build(app); err != nil {
		fmt.Fprintln(os.Stderr, "infra:", err)
		os.Exit(1)
	}
	app.Synth(nil)
}

// build adds the stage's stack to app, from the context's settings.
func build(app awscdk.App) error {
	stage := contextString(app, "stage", "dev")
	s, err := settingsFor(Context{
		Stage:           stage,
		AlarmEmail:      contextString(app, "alarmEmail", ""),
		GoogleClientID:  contextString(app, "googleClientId", ""),
		AppURL:          contextString(app, "appUrl", ""),
		Features:        contextString(app, "features", ""),
		SecretsRevision: contextString(app, "secretsRevision", ""),
		// GooglePubSubTopic: the topic Gmail publishes push notifications to.
		GooglePubSubTopic: contextString(app, "googlePubsubTopic", ""),
		// The Gmail push subscription's service account and name.
		GooglePushServiceAccount: contextString(app, "googlePushServiceAccount", ""),
		GooglePubSubSubscription: contextString(app, "googlePubsubSubscription", ""),
		// Browsers: the web apps' origins and the API's own name.
		AllowedOrigins: contextString(app, "allowedOrigins", ""),
		DomainName:     contextString(app, "domainName", ""),
		HostedZoneID:   contextString(app, "hostedZoneId", ""),
		CertificateARN: contextString(app, "certificateArn", ""),
	})
	if err != nil {
		return err
	}

	root, err := repoRoot(".")
	if err != nil {
		return err
	}
	assets := contextString(app, "assetRoot", filepath.Join(root, ".build"))
	stack, err := NewStack(app, "crm-"+stage, &StackProps{
		StackProps: awscdk.StackProps{
			Env:                   environment(),
			Description:           jsii.String("Personal CRM backend (" + stage + ")"),
			TerminationProtection: jsii.Bool(s.DeletionProtection),
		},
		Settings:  s,
		Functions: catalog.All(),
		Schedules: catalog.Schedules(),
		AssetRoot: assets,
	})
	if err != nil {
		return err
	}
	awscdk.Tags_Of(stack.Stack).Add(jsii.String("app"), jsii.String("crm"), nil)
	awscdk.Tags_Of(stack.Stack).Add(jsii.String("stage"), jsii.String(stage), nil)

	if contextString(app, "nag", "") == "true" {
		awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	}
	return nil
}

// environment pins the stack to the account and region the CLI knows (it
// knows the account only when credentials are configured); without them the
// stack is environment-agnostic and synthesizes with no network.
func environment() *awscdk.Environment {
	env := &awscdk.Environment{}
	if v := os.Getenv("CDK_DEFAULT_ACCOUNT"); v != "" {
		env.Account = jsii.String(v)
	}
	if v := os.Getenv("CDK_DEFAULT_REGION"); v != "" {
		env.Region = jsii.String(v)
	}
	if env.Account == nil && env.Region == nil {
		return nil
	}
	return env
}

func contextString(app awscdk.App, key, fallback string) string {
	v := app.Node().TryGetContext(jsii.String(key))
	if s, ok := v.(string); ok && s != "" {
		return s
	}
	return fallback
}
