package main

import (
	"fmt"
	"net/url"
	"regexp"
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

	// IPv6Egress makes the VPC dual-stack: the private subnets route ::/0
	// to an egress-only internet gateway (no hourly charge, no per-GB
	// processing charge, redundant across AZs) and the functions may send
	// IPv6. Google's APIs and the regional SQS and Secrets Manager
	// endpoints answer on IPv6, so that traffic never meets the NAT.
	IPv6Egress bool
	// NATs is how many NAT devices carry IPv4 traffic to the internet (what
	// has no IPv6 address: OpenAI, the database secret's rotation
	// function); NATInstanceType, when set, makes them EC2 NAT instances
	// of that type instead of NAT gateways ($7.36 a month for a t4g.nano
	// with its public IPv4 and root volume, against $36.50 for a gateway;
	// but a single instance, not redundant within its AZ).
	NATs            int
	NATInstanceType string
	// EndpointAZs is how many AZs get an interface endpoint ENI for SQS and
	// Secrets Manager (each ENI is billed hourly); 0 makes no interface
	// endpoints, and those calls leave through IPv6 egress or the NAT.
	EndpointAZs int
	// FlowLogRetention keeps the VPC's rejected-traffic flow log.
	FlowLogRetention awslogs.RetentionDays

	// DBProxy puts RDS Proxy between the functions and the instance: it
	// multiplexes their connections onto a few server sessions and hides
	// a Multi-AZ failover behind its endpoint ($21.90 a month at least).
	// Without it the functions connect to the instance itself, with the
	// same IAM tokens, over TLS verified against the RDS certificate
	// authorities; migrate signs in as the master user with the master
	// secret's password.
	DBProxy               bool
	DBInstanceType        awsec2.InstanceType
	DBAllocatedGB         float64
	DBMaxAllocatedGB      float64
	DBMultiAZ             bool
	DBBackupRetention     time.Duration
	DBSecretRotation      time.Duration
	DBPerformanceInsights bool

	// CacheServerless makes the cache ElastiCache Serverless for Valkey
	// ($6.11 a month at its 100 MB minimum, Multi-AZ, no node to size or
	// patch; billed per ECPU) instead of a replication group of
	// CacheNodes nodes of CacheNodeType (one cache.t4g.micro: $9.34).
	CacheServerless bool
	CacheNodeType   string
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

	// FullMonitoring is for a stage someone is paged for: an alarm on
	// every function's errors and throttles and on every queue's oldest
	// message, and the dashboard graphs every function. Without it the
	// stage keeps the alarms that matter when nobody is paged (one per
	// dead-letter queue: a job given up on; and the API's 5xx), and a
	// dashboard of the API and the queues, which CloudWatch's free tier
	// covers (10 alarms; 3 dashboards of up to 50 metrics each).
	FullMonitoring bool

	// AlarmEmail, when set, subscribes to the alarm topic, and makes
	// one in a stage without full monitoring (alarmTopic).
	AlarmEmail string
	// GoogleClientID is the OAuth client id (not a secret); a placeholder
	// until the operator sets it with -c googleClientId=...
	GoogleClientID string
	// AppURL is the web app: where the browser lands after signing in
	// (AUTH_REDIRECT_URL); its origin, with AllowedOrigins, may call the
	// API with cookies (CORS and cookie-authenticated writes). Empty: the API's own
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
	// AllowedOrigins are further web apps' origins (https://host[:port])
	// that may call the API from a browser with credentials, from
	// -c allowedOrigins=...: CORS on the HTTP API and CORS_ORIGINS for the
	// functions' check of cookie-authenticated writes. AppURL's origin is
	// allowed without being listed.
	AllowedOrigins []string
	// DomainName, when set, is the API's own name (api.example.com): an
	// API Gateway custom domain (TLS 1.2 at least) whose URL AUTH_URL,
	// the Google callback and the stack's ApiUrl use, the execute-api
	// endpoint switched off. HostedZoneID (a Route 53 zone holding the
	// name) makes a DNS-validated certificate and the alias record;
	// CertificateARN uses an ACM certificate of the stack's region, with
	// the DNS record left to the operator.
	DomainName, HostedZoneID, CertificateARN string
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
			IPv6Egress:             true,
			NATs:                   1,
			NATInstanceType:        "t4g.nano",
			EndpointAZs:            0,
			FlowLogRetention:       awslogs.RetentionDays_ONE_WEEK,
			DBProxy:                false,
			DBInstanceType:         awsec2.InstanceType_Of(awsec2.InstanceClass_BURSTABLE4_GRAVITON, awsec2.InstanceSize_MICRO),
			DBAllocatedGB:          20,
			DBMaxAllocatedGB:       50,
			DBMultiAZ:              false,
			DBBackupRetention:      7 * 24 * time.Hour,
			DBSecretRotation:       30 * 24 * time.Hour,
			CacheServerless:        true,
			CacheSnapshotRetention: 1,
			DeletionProtection:     false,
			RemovalPolicy:          awscdk.RemovalPolicy_DESTROY,
			LogRetention:           awslogs.RetentionDays_TWO_WEEKS,
			LogLevel:               "debug",
			APIRateLimit:           50,
			APIBurstLimit:          100,
			OldestMessageAlarm:     30 * time.Minute,
			FullMonitoring:         false,
			GoogleClientID:         placeholderGoogleClientID,
		}, nil
	case "prod":
		return Settings{
			Stage:                  "prod",
			IPv6Egress:             true,
			NATs:                   2,
			NATInstanceType:        "t4g.nano",
			EndpointAZs:            0,
			FlowLogRetention:       awslogs.RetentionDays_ONE_MONTH,
			DBProxy:                true,
			DBInstanceType:         awsec2.InstanceType_Of(awsec2.InstanceClass_BURSTABLE4_GRAVITON, awsec2.InstanceSize_SMALL),
			DBAllocatedGB:          50,
			DBMaxAllocatedGB:       200,
			DBMultiAZ:              true,
			DBBackupRetention:      14 * 24 * time.Hour,
			DBSecretRotation:       30 * 24 * time.Hour,
			DBPerformanceInsights:  true,
			CacheNodeType:          "cache.t4g.micro",
			CacheNodes:             2,
			CacheSnapshotRetention: 7,
			DeletionProtection:     true,
			RemovalPolicy:          awscdk.RemovalPolicy_RETAIN,
			LogRetention:           awslogs.RetentionDays_THREE_MONTHS,
			LogLevel:               "info",
			APIRateLimit:           200,
			APIBurstLimit:          400,
			OldestMessageAlarm:     15 * time.Minute,
			FullMonitoring:         true,
			GoogleClientID:         placeholderGoogleClientID,
		}, nil
	}
	return Settings{}, fmt.Errorf("unknown stage %q: want dev or prod", stage)
}

// alarmTopic reports whether the stage has an alarm topic (and the KMS
// key that encrypts it, $1 a month): when someone subscribes (AlarmEmail),
// and always in a fully monitored stage, which is one someone is paged
// for: its topic, under a fixed name, is there for subscribers added
// outside the stack (an on-call tool) even before an address is given.
// Without one the alarms have no actions; they still change state and
// show it in the console.
func (s Settings) alarmTopic() bool {
	return s.AlarmEmail != "" || s.FullMonitoring
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
	// AllowedOrigins is comma-separated; DomainName goes with exactly one
	// of HostedZoneID and CertificateARN.
	AllowedOrigins, DomainName, HostedZoneID, CertificateARN string
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
	problems = append(problems, s.applyBrowserContext(c)...)
	if len(problems) > 0 {
		return Settings{}, fmt.Errorf("stage %s: %s", s.Stage, strings.Join(problems, "; "))
	}
	return s, nil
}

var (
	domainNameRE     = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`)
	hostedZoneIDRE   = regexp.MustCompile(`^Z[A-Z0-9]{1,31}$`)
	certificateARNRE = regexp.MustCompile(`^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[A-Za-z0-9-]+$`)
)

// applyBrowserContext takes the allowed origins and the custom domain
// from c, and returns what is wrong with them.
func (s *Settings) applyBrowserContext(c Context) []string {
	var problems []string
	seen := map[string]bool{}
	for _, o := range strings.Split(c.AllowedOrigins, ",") {
		if o = strings.TrimSpace(o); o == "" {
			continue
		}
		origin, err := config.ParseOrigin(o, true)
		if err != nil {
			problems = append(problems, fmt.Sprintf("allowedOrigins: %q %s", o, err))
			continue
		}
		if !seen[origin] {
			seen[origin] = true
			s.AllowedOrigins = append(s.AllowedOrigins, origin)
		}
	}

	name := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(c.DomainName), "."))
	switch {
	case name == "":
		if c.HostedZoneID != "" || c.CertificateARN != "" {
			problems = append(problems, "hostedZoneId and certificateArn go with domainName: -c domainName=api.example.com")
		}
		return problems
	case len(name) > 253 || !domainNameRE.MatchString(name):
		problems = append(problems, fmt.Sprintf("domainName %q must be a host name like api.example.com (no scheme, port, path or wildcard)", c.DomainName))
	}
	switch {
	case (c.HostedZoneID == "") == (c.CertificateARN == ""):
		problems = append(problems, "domainName needs exactly one of -c hostedZoneId=<Route 53 zone holding it> "+
			"(a DNS-validated certificate and the alias record are created) and -c certificateArn=<ACM certificate in the stack's region>")
	case c.HostedZoneID != "" && !hostedZoneIDRE.MatchString(c.HostedZoneID):
		problems = append(problems, fmt.Sprintf("hostedZoneId %q must be a Route 53 hosted zone id like Z0123456789ABCDEFGHIJ", c.HostedZoneID))
	case c.CertificateARN != "" && !certificateARNRE.MatchString(c.CertificateARN):
		problems = append(problems, fmt.Sprintf("certificateArn %q must be an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>)", c.CertificateARN))
	}
	s.DomainName, s.HostedZoneID, s.CertificateARN = name, c.HostedZoneID, c.CertificateARN
	return problems
}

// apiURL is the API's base URL on its custom domain, without a trailing
// slash (AUTH_URL); empty without one.
func (s Settings) apiURL() string {
	if s.DomainName == "" {
		return ""
	}
	return "https://" + s.DomainName
}

// corsOrigins are the origins the HTTP API answers CORS for: exactly
// those the functions accept cookie-authenticated writes from besides the
// API's own (config.AllowedOrigins: CORS_ORIGINS and AUTH_REDIRECT_URL's
// origin). Never a wildcard.
func (s Settings) corsOrigins() []string {
	self := ""
	if u := s.apiURL(); u != "" {
		self, _ = config.ParseOrigin(u, true)
	}
	seen := map[string]bool{self: true}
	var out []string
	add := func(o string) {
		if o != "" && !seen[o] {
			seen[o] = true
			out = append(out, o)
		}
	}
	for _, o := range s.AllowedOrigins {
		add(o)
	}
	if u, err := url.Parse(s.AppURL); err == nil && s.AppURL != "" && u.Host != "" {
		add(config.Origin(u))
	}
	return out
}
