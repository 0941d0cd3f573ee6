package main

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"

	"github.com/personalcrm/core/shared/config"
)

// Settings are what differs between stages. Everything else comes from the
// catalog.
type Settings struct {
	// Stage names the deployment ("dev", "prod"); resource names start with
	// "crm-<stage>-".
	Stage string

	// NATGateways is how many NAT gateways carry the functions' traffic to
	// Google and OpenAI: one per AZ survives an AZ outage, one saves ~$33/month.
	NATGateways int
	// EndpointAZs is how many AZs get an interface endpoint ENI (each ENI is
	// billed hourly); functions in the other AZ reach it across AZs.
	EndpointAZs int
	// FlowLogRetention keeps the VPC's rejected-traffic flow log.
	FlowLogRetention awslogs.RetentionDays

	DBInstanceType        awsec2.InstanceType
	DBAllocatedGB         float64
	DBMaxAllocatedGB      float64
	DBMultiAZ             bool
	DBBackupRetention     time.Duration
	DBSecretRotation      time.Duration
	DBPerformanceInsights bool

	CacheNodeType string
	// CacheNodes is the number of Valkey nodes; more than one enables
	// automatic failover across AZs.
	CacheNodes             int
	CacheSnapshotRetention int // days

	// DeletionProtection guards the database against deletion.
	DeletionProtection bool
	// RemovalPolicy applies to stateful resources (database, queues, secrets,
	// log groups) when the stack is deleted or they are replaced.
	RemovalPolicy awscdk.RemovalPolicy

	LogRetention awslogs.RetentionDays
	LogLevel     string

	// APIRateLimit and APIBurstLimit throttle the whole HTTP API (requests
	// per second, steady and burst), a ceiling above the per-user limits the
	// functions enforce.
	APIRateLimit  float64
	APIBurstLimit float64

	// OldestMessageAlarm is the age of the oldest queued job that raises an
	// alarm (at least the queue's visibility timeout).
	OldestMessageAlarm time.Duration

	// AlarmEmail, when set, subscribes to the alarm topic.
	AlarmEmail string
	// GoogleClientID is the OAuth client id (not a secret); a placeholder
	// until the operator sets it with -c googleClientId=...
	GoogleClientID string
	// AppURL is the web app: where the browser lands after signing in
	// (AUTH_REDIRECT_URL), and with the API the only origin whose
	// cookie-authenticated writes are accepted. Empty: the API's own
	// GET /v1/user, which shows the signed-in user (a stage without a
	// web app).
	AppURL string
	// Features are the FEATURE_* gates switched on for every function.
	Features []string
	// GooglePubSubTopic, when set, is the Pub/Sub topic gmail-watch asks
	// Gmail to publish to (GOOGLE_PUBSUB_TOPIC), from -c googlePubsubTopic=...
	GooglePubSubTopic string
	// GooglePushServiceAccount and GooglePubSubSubscription configure Gmail
	// push, together (from -c googlePushServiceAccount=... and -c
	// googlePubsubSubscription=...): the service account the push
	// subscription signs its tokens as, and the subscription. Unset,
	// webhooks-gmail gets no push audience and refuses every push.
	GooglePushServiceAccount string
	GooglePubSubSubscription string
	// SecretsRevision, when set, is given to every function that reads a
	// secret (SECRETS_REVISION): changing it replaces those functions'
	// execution environments, which read the secrets' current values.
	SecretsRevision string
}

// placeholderGoogleClientID is deployed until an operator supplies the real
// OAuth client id; sign-in fails with it, nothing else does.
const placeholderGoogleClientID = "set-google-client-id.apps.googleusercontent.com"

// stageSettings returns the settings of a named stage.
func stageSettings(stage string) (Settings, error) {
	switch stage {
	case "dev":
		return Settings{
			Stage:                  "dev",
			NATGateways:            1,
			EndpointAZs:            1,
			FlowLogRetention:       awslogs.RetentionDays_ONE_WEEK,
			DBInstanceType:         awsec2.InstanceType_Of(awsec2.InstanceClass_BURSTABLE4_GRAVITON, awsec2.InstanceSize_MICRO),
			DBAllocatedGB:          20,
			DBMaxAllocatedGB:       50,
			DBMultiAZ:              false,
			DBBackupRetention:      7 * 24 * time.Hour,
			DBSecretRotation:       30 * 24 * time.Hour,
			CacheNodeType:          "cache.t4g.micro",
			CacheNodes:             1,
			CacheSnapshotRetention: 1,
			DeletionProtection:     false,
			RemovalPolicy:          awscdk.RemovalPolicy_DESTROY,
			LogRetention:           awslogs.RetentionDays_TWO_WEEKS,
			LogLevel:               "debug",
			APIRateLimit:           50,
			APIBurstLimit:          100,
			OldestMessageAlarm:     30 * time.Minute,
			GoogleClientID:         placeholderGoogleClientID,
		}, nil
	case "prod":
		return Settings{
			Stage:                  "prod",
			NATGateways:            2,
			EndpointAZs:            2,
			FlowLogRetention:       awslogs.RetentionDays_ONE_MONTH,
			DBInstanceType:         awsec2.InstanceType_Of(awsec2.InstanceClass_BURSTABLE4_GRAVITON, awsec2.InstanceSize_MEDIUM),
			DBAllocatedGB:          50,
			DBMaxAllocatedGB:       200,
			DBMultiAZ:              true,
			DBBackupRetention:      14 * 24 * time.Hour,
			DBSecretRotation:       30 * 24 * time.Hour,
			DBPerformanceInsights:  true,
			CacheNodeType:          "cache.t4g.small",
			CacheNodes:             2,
			CacheSnapshotRetention: 7,
			DeletionProtection:     true,
			RemovalPolicy:          awscdk.RemovalPolicy_RETAIN,
			LogRetention:           awslogs.RetentionDays_THREE_MONTHS,
			LogLevel:               "info",
			APIRateLimit:           200,
			APIBurstLimit:          400,
			OldestMessageAlarm:     15 * time.Minute,
			GoogleClientID:         placeholderGoogleClientID,
		}, nil
	}
	return Settings{}, fmt.Errorf("unknown stage %q: want dev or prod", stage)
}

// dbRemovalPolicy keeps a final snapshot of a retained database; a
// destroyed dev database leaves nothing behind.
func (s Settings) dbRemovalPolicy() awscdk.RemovalPolicy {
	if s.RemovalPolicy == awscdk.RemovalPolicy_DESTROY {
		return awscdk.RemovalPolicy_DESTROY
	}
	return awscdk.RemovalPolicy_SNAPSHOT
}

// Context holds the settings an operator passes with -c key=value.
type Context struct {
	Stage, AlarmEmail, GoogleClientID, AppURL, Features, SecretsRevision  string
	GooglePubSubTopic, GooglePushServiceAccount, GooglePubSubSubscription string
}

// pushProblems checks the Gmail push context: both settings or neither,
// each well formed, and both when the webhooks gate is on (the functions
// run in production, which refuses push tokens from any service account).
func pushProblems(c Context) []string {
	var problems []string
	sa, sub := c.GooglePushServiceAccount, c.GooglePubSubSubscription
	if sa != "" && !config.ValidServiceAccount(sa) {
		problems = append(problems, fmt.Sprintf("googlePushServiceAccount %q is not a service account's email address", sa))
	}
	if sub != "" && !config.ValidSubscription(sub) {
		problems = append(problems, fmt.Sprintf("googlePubsubSubscription %q must be projects/<project>/subscriptions/<subscription>", sub))
	}
	webhooks := false
	for _, name := range strings.Split(c.Features, ",") {
		webhooks = webhooks || strings.TrimSpace(name) == "webhooks"
	}
	switch {
	case (sa == "") != (sub == ""):
		problems = append(problems, "googlePushServiceAccount and googlePubsubSubscription go together: "+
			"-c googlePushServiceAccount=<push@project.iam.gserviceaccount.com> -c googlePubsubSubscription=projects/<project>/subscriptions/<name>")
	case sa == "" && webhooks:
		problems = append(problems, "the webhooks feature needs the push subscription: "+
			"-c googlePushServiceAccount=<push@project.iam.gserviceaccount.com> -c googlePubsubSubscription=projects/<project>/subscriptions/<name>")
	}
	return problems
}

// featureVars maps the names accepted by -c features=... to their gates.
var featureVars = map[string]string{
	"ai-agents":  config.VarFeatureAIAgents,
	"enrichment": config.VarFeatureEnrichment,
	"webhooks":   config.VarFeatureWebhooks,
}

// settingsFor returns the stage's settings with the operator's context
// applied, and reports every problem at once. Prod has no defaults for
// what identifies the deployment: its web app and its Google client.
func settingsFor(c Context) (Settings, error) {
	s, err := stageSettings(c.Stage)
	if err != nil {
		return Settings{}, err
	}
	var problems []string
	if c.AlarmEmail != "" {
		if !strings.Contains(c.AlarmEmail, "@") {
			problems = append(problems, fmt.Sprintf("alarmEmail %q is not an email address", c.AlarmEmail))
		}
		s.AlarmEmail = c.AlarmEmail
	}
	if c.GoogleClientID != "" {
		s.GoogleClientID = c.GoogleClientID
	} else if s.Stage == "prod" {
		problems = append(problems, "googleClientId is required for prod: -c googleClientId=<id>.apps.googleusercontent.com")
	}
	s.GooglePubSubTopic = c.GooglePubSubTopic
	problems = append(problems, pushProblems(c)...)
	s.GooglePushServiceAccount, s.GooglePubSubSubscription = c.GooglePushServiceAccount, c.GooglePubSubSubscription
	if c.AppURL != "" {
		u, err := url.Parse(c.AppURL)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			problems = append(problems, fmt.Sprintf("appUrl %q must be an absolute https URL (the functions run in production mode)", c.AppURL))
		}
		s.AppURL = c.AppURL
	} else if s.Stage == "prod" {
		problems = append(problems, "appUrl is required for prod: -c appUrl=https://<web app>/ (where sign-in lands)")
	}
	for _, name := range strings.Split(c.Features, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		v, ok := featureVars[name]
		if !ok {
			problems = append(problems, fmt.Sprintf("features: unknown feature %q (known: ai-agents, enrichment, webhooks)", name))
			continue
		}
		s.Features = append(s.Features, v)
	}
	sort.Strings(s.Features)
	s.SecretsRevision = c.SecretsRevision
	if len(problems) > 0 {
		return Settings{}, fmt.Errorf("stage %s: %s", s.Stage, strings.Join(problems, "; "))
	}
	return s, nil
}
