package main

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
	"github.com/google/go-cmp/cmp"

	appcache "github.com/personalcrm/core/shared/cache"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/config"
)

// catalogs are the two catalogs every template test reads.
var catalogs = []struct {
	name string
	cat  func() ([]catalog.Function, []catalog.Schedule)
}{
	{"real", realCatalog},
	{"fixture", fixtureCatalog},
}

func eachCatalog(t *testing.T, test func(t *testing.T, s *synthesized)) {
	for _, c := range catalogs {
		t.Run(c.name, func(t *testing.T) { test(t, synth(t, c.name, "dev", c.cat)) })
	}
}

// fn returns the template resource of a catalog function's Lambda.
func (s *synthesized) fn(name string) (string, resource) {
	id := s.logicalID(s.stack.Functions[name])
	return id, s.resources[id]
}

func (s *synthesized) env(name string) map[string]any {
	_, r := s.fn(name)
	e, _ := r.Properties["Environment"].(map[string]any)
	v, _ := e["Variables"].(map[string]any)
	return v
}

func TestFunctionPerEntry(t *testing.T) {
	eachCatalog(t, func(t *testing.T, s *synthesized) {
		ours := 0
		for _, id := range s.ofType("AWS::Lambda::Function") {
			if s.resources[id].Properties["Runtime"] == "provided.al2023" {
				ours++
			}
		}
		if ours != len(s.fns) {
			t.Errorf("%d provided.al2023 functions, want one per catalog entry (%d)", ours, len(s.fns))
		}
		for _, fn := range s.fns {
			props := map[string]any{
				"FunctionName":  functionName(s.settings, fn),
				"MemorySize":    fn.MemoryMB,
				"Timeout":       int(fn.Timeout / time.Second),
				"Architectures": []any{"arm64"},
				"Runtime":       "provided.al2023",
				"Handler":       "bootstrap",
				"TracingConfig": map[string]any{"Mode": "Active"},
				"VpcConfig":     assertions.Match_ObjectLike(&map[string]any{"SubnetIds": assertions.Match_AnyValue()}),
				"LoggingConfig": assertions.Match_ObjectLike(&map[string]any{"LogGroup": assertions.Match_AnyValue()}),
			}
			if fn.MaxConcurrency > 0 {
				props["ReservedConcurrentExecutions"] = *reservedConcurrency(fn)
			} else {
				props["ReservedConcurrentExecutions"] = assertions.Match_Absent()
			}
			check(t, fn.Name, func() { s.template.HasResourceProperties(jsii.String("AWS::Lambda::Function"), props) })
		}
	})
}

// wantEnv is the configuration a function's entry entitles it to, by name.
func wantEnv(fn catalog.Function, jobs []string, features []string, proxy, revision, topic, push, origins bool) []string {
	vars := []string{config.VarAppEnv, config.VarLogLevel}
	vars = append(vars, features...)
	if fn.Needs(catalog.Database) {
		// Without a proxy, migrate signs in with the master secret.
		if !proxy && databaseUser(fn) == dbUser {
			vars = append(vars, config.VarDatabaseURL, config.VarDatabaseSecret)
		} else {
			vars = append(vars, config.VarDatabaseURL, config.VarDatabaseIAMAuth)
		}
	}
	if fn.Needs(catalog.Cache) {
		vars = append(vars, config.VarRedisURL, config.VarCacheIAMUser, config.VarCacheName, config.VarCacheMode)
	}
	if fn.Kind == catalog.Route || fn.Needs(catalog.Google) {
		vars = append(vars, config.VarAuthURL, config.VarAuthRedirectURL)
		if origins {
			vars = append(vars, config.VarCORSOrigins)
		}
	}
	if fn.Needs(catalog.Google) {
		vars = append(vars, config.VarGoogleClientID, config.VarGoogleClientSecret)
	}
	// The key of cached session entries derives from AUTH_SECRET.
	if fn.Needs(catalog.Google) || fn.CachesSessions() {
		vars = append(vars, config.VarAuthSecret)
	}
	if fn.Needs(catalog.TokenKeys) {
		vars = append(vars, config.VarTokenKeys)
	}
	if fn.Name == catalog.WebhooksGmail && push {
		vars = append(vars, config.VarGoogleWebhookURL, config.VarGooglePushServiceAccount, config.VarGooglePubSubSubscription)
	}
	if fn.Name == catalog.GmailWatch && topic {
		vars = append(vars, config.VarGooglePubSubTopic)
	}
	if fn.Needs(catalog.OpenAI) {
		vars = append(vars, config.VarOpenAIAPIKey)
	}
	if len(secretsOf(fn)) > 0 && revision {
		vars = append(vars, secretsRevisionVar)
	}
	queues := map[string]bool{}
	for _, j := range fn.Enqueues {
		queues[j] = true
	}
	if fn.Kind == catalog.Job {
		queues[fn.Name] = true
	}
	if fn.Needs(catalog.QueueStats) {
		for _, j := range jobs {
			queues[j] = true
		}
	}
	for j := range queues {
		vars = append(vars, config.QueueURLVar(j))
	}
	sort.Strings(vars)
	return vars
}

func TestEnvironment(t *testing.T) {
	eachCatalog(t, testEnvironment)
	// prod sets the web app, feature gates and a secrets revision.
	t.Run("prod", func(t *testing.T) { testEnvironment(t, synth(t, "real", "prod", realCatalog)) })
}

func testEnvironment(t *testing.T, s *synthesized) {
	{
		for _, fn := range s.fns {
			env := s.env(fn.Name)
			var got []string
			for k := range env {
				got = append(got, k)
			}
			sort.Strings(got)
			if d := cmp.Diff(wantEnv(fn, s.jobs(), s.settings.Features, s.settings.DBProxy, s.settings.SecretsRevision != "", s.settings.GooglePubSubTopic != "",
				s.settings.GooglePushServiceAccount != "", len(s.settings.AllowedOrigins) > 0), got); d != "" {
				t.Errorf("%s: variables (-want +got):\n%s", fn.Name, d)
			}
			if fn.Name == catalog.WebhooksGmail && s.settings.GooglePushServiceAccount != "" &&
				(env[config.VarGooglePushServiceAccount] != s.settings.GooglePushServiceAccount ||
					env[config.VarGooglePubSubSubscription] != s.settings.GooglePubSubSubscription) {
				t.Errorf("%s: push service account %v, subscription %v", fn.Name, env[config.VarGooglePushServiceAccount], env[config.VarGooglePubSubSubscription])
			}
			if fn.Name == catalog.GmailWatch && s.settings.GooglePubSubTopic != "" && env[config.VarGooglePubSubTopic] != s.settings.GooglePubSubTopic {
				t.Errorf("%s: GOOGLE_PUBSUB_TOPIC = %v", fn.Name, env[config.VarGooglePubSubTopic])
			}
			if env[config.VarAppEnv] != "production" {
				t.Errorf("%s: APP_ENV = %v", fn.Name, env[config.VarAppEnv])
			}
			if fn.Needs(catalog.Database) {
				url := fmt.Sprint(env[config.VarDatabaseURL])
				// Migrate alone connects as the schema's owner; the rest as
				// the runtime role, which can change no schema.
				// (TestDatabaseConnections checks the rest.)
				port := map[bool]int{true: proxyPort, false: instancePort}[s.settings.DBProxy]
				for _, part := range []string{"postgres://" + databaseUser(fn) + "@", fmt.Sprintf(":%d/crm?sslmode=verify-full", port), "Endpoint"} {
					if !strings.Contains(url, part) {
						t.Errorf("%s: DATABASE_URL %s lacks %q", fn.Name, url, part)
					}
				}
				if password := !s.settings.DBProxy && databaseUser(fn) == dbUser; (env[config.VarDatabaseIAMAuth] == "true") == password {
					t.Errorf("%s: DATABASE_IAM_AUTH = %v", fn.Name, env[config.VarDatabaseIAMAuth])
				}
			}
			if fn.Needs(catalog.Cache) {
				if !strings.Contains(fmt.Sprint(env[config.VarRedisURL]), "rediss://") {
					t.Errorf("%s: REDIS_URL is not TLS: %v", fn.Name, env[config.VarRedisURL])
				}
				user, group := s.cacheUsers()
				if env[config.VarCacheIAMUser] != s.resources[user].Properties["UserId"] {
					t.Errorf("%s: CACHE_IAM_USER = %v, want the cache user's id", fn.Name, env[config.VarCacheIAMUser])
				}
				if firstRef(env[config.VarCacheName]) != group {
					t.Errorf("%s: CACHE_NAME = %v, want the cache's id", fn.Name, env[config.VarCacheName])
				}
				mode := map[bool]string{false: config.CacheModeNode, true: config.CacheModeServerless}[s.settings.CacheServerless]
				if env[config.VarCacheMode] != mode {
					t.Errorf("%s: CACHE_MODE = %v, want %s", fn.Name, env[config.VarCacheMode], mode)
				}
			}
			// Secrets travel as references to the secret (its ARN), never a value.
			for _, spec := range secretsOf(fn) {
				want := map[string]any{"Ref": s.logicalID(s.stack.Secrets[spec.Var])}
				if !reflect.DeepEqual(env[spec.Var], want) {
					t.Errorf("%s: %s = %v, want the secret's ARN %v", fn.Name, spec.Var, env[spec.Var], want)
				}
			}
		}
	}
}

// jobs are the job types of the synthesized catalog.
func (s *synthesized) jobs() []string {
	var out []string
	for _, fn := range s.fns {
		if fn.Kind == catalog.Job {
			out = append(out, fn.Name)
		}
	}
	return out
}

func TestRoutePerCatalogRoute(t *testing.T) {
	eachCatalog(t, func(t *testing.T, s *synthesized) {
		var routes []catalog.Function
		for _, fn := range s.fns {
			if fn.Kind == catalog.Route {
				routes = append(routes, fn)
			}
		}
		if n := len(s.ofType("AWS::ApiGatewayV2::Route")); n != len(routes) {
			t.Errorf("%d routes, want %d", n, len(routes))
		}
		for _, fn := range routes {
			fnID, _ := s.fn(fn.Name)
			key := fn.Method + " " + fn.Path
			var found bool
			for _, id := range s.ofType("AWS::ApiGatewayV2::Route") {
				r := s.resources[id].Properties
				if r["RouteKey"] != key {
					continue
				}
				found = true
				integ := s.resources[firstRef(r["Target"])].Properties
				if integ["PayloadFormatVersion"] != "2.0" || integ["IntegrationType"] != "AWS_PROXY" {
					t.Errorf("%s: integration %v", key, integ)
				}
				if !refs(integ["IntegrationUri"])[fnID] {
					t.Errorf("%s: integrated with %v, want function %s", key, integ["IntegrationUri"], fnID)
				}
			}
			if !found {
				t.Errorf("no route %q for %s", key, fn.Name)
			}
		}
	})
}

// TestRealCatalogDeployed names what the project's catalog must deploy,
// so that an entry dropped from the catalog or the stack is noticed.
func TestRealCatalogDeployed(t *testing.T) {
	s := synth(t, "real", "dev", realCatalog)
	for _, key := range []string{
		"GET /health", "GET /openapi.json",
		"GET /auth/google/login", "GET /auth/google/callback", "POST /auth/logout",
		"GET /v1/user", "PATCH /v1/user", "GET /v1/user/features",
		"GET /v1/user/sessions", "DELETE /v1/user/sessions/{id}",
		"GET /v1/contacts", "POST /v1/contacts", "GET /v1/contacts/{id}", "PATCH /v1/contacts/{id}", "DELETE /v1/contacts/{id}",
		"GET /v1/jobs/{id}",
	} {
		check(t, key, func() {
			s.template.HasResourceProperties(jsii.String("AWS::ApiGatewayV2::Route"), map[string]any{"RouteKey": key})
		})
	}
	for _, job := range []string{catalog.EmailSync, catalog.ContactExtraction, catalog.Enrichment, catalog.AIAnalysis, catalog.CalendarSync} {
		for _, name := range []string{"crm-dev-" + job, "crm-dev-" + job + "-dlq"} {
			check(t, name, func() {
				s.template.HasResourceProperties(jsii.String("AWS::SQS::Queue"), map[string]any{"QueueName": name})
			})
		}
	}
	for name, expr := range map[string]string{"outbox": "rate(1 minute)", "maintenance": "rate(1 day)"} {
		check(t, "schedule "+name, func() {
			s.template.HasResourceProperties(jsii.String("AWS::Scheduler::Schedule"), map[string]any{
				"Name": "crm-dev-" + name, "ScheduleExpression": expr,
			})
		})
	}
	if n := len(s.ofType("Custom::Trigger")); n != 1 {
		t.Errorf("%d migration triggers, want 1", n)
	}
}

func TestAPIStage(t *testing.T) {
	s := synth(t, "real", "dev", realCatalog)
	check(t, "stage", func() {
		s.template.HasResourceProperties(jsii.String("AWS::ApiGatewayV2::Stage"), map[string]any{
			"StageName":  "$default",
			"AutoDeploy": true,
			"AccessLogSettings": map[string]any{
				"DestinationArn": assertions.Match_AnyValue(),
				"Format":         assertions.Match_SerializedJson(assertions.Match_ObjectLike(&map[string]any{"requestId": "$context.requestId", "status": "$context.status"})),
			},
			"DefaultRouteSettings": map[string]any{
				"ThrottlingRateLimit":  s.settings.APIRateLimit,
				"ThrottlingBurstLimit": s.settings.APIBurstLimit,
			},
		})
	})
	if _, ok := s.outputs["ApiUrl"]; !ok {
		t.Error("no ApiUrl output")
	}
	fixture := synth(t, "fixture", "dev", fixtureCatalog)
	if _, ok := fixture.outputs["GoogleClientIdToSet"]; !ok {
		t.Error("Google sign-in is deployed with a placeholder client id and no output says so")
	}
}

// TestSecretOutputs: every secret created with a placeholder is named in an
// output, with its ARN, and no other is.
func TestSecretOutputs(t *testing.T) {
	eachCatalog(t, func(t *testing.T, s *synthesized) {
		var want, got []string
		for _, spec := range appSecrets {
			if sec, ok := s.stack.Secrets[spec.Var]; ok && spec.Fill {
				want = append(want, spec.Var)
				o, _ := s.outputs["SecretToFill"+spec.ID].(map[string]any)
				if firstRef(o["Value"]) != s.logicalID(sec) {
					t.Errorf("output for %s is %v", spec.Var, o)
				}
			}
		}
		for k, o := range s.outputs {
			if strings.HasPrefix(k, "SecretToFill") {
				got = append(got, strings.Fields(fmt.Sprint(o.(map[string]any)["Description"]))[0])
			}
		}
		sort.Strings(want)
		sort.Strings(got)
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("secrets to fill (-want +got):\n%s", d)
		}
	})
}

func TestJobQueues(t *testing.T) {
	eachCatalog(t, testJobQueues)
}

func testJobQueues(t *testing.T, s *synthesized) {
	jobs := 0
	for _, fn := range s.fns {
		if fn.Kind != catalog.Job {
			continue
		}
		jobs++
		q := s.stack.Queues[fn.Name]
		qID, dlqID := s.logicalID(q.queue), s.logicalID(q.dlq)
		qp := s.resources[qID].Properties
		if got, min := num(qp["VisibilityTimeout"]), 6*fn.Timeout.Seconds(); got < min {
			t.Errorf("%s: visibility timeout %vs, want at least 6x the function timeout (%vs)", fn.Name, got, min)
		}
		rp, _ := qp["RedrivePolicy"].(map[string]any)
		if num(rp["maxReceiveCount"]) != float64(fn.MaxAttempts) || !refs(rp["deadLetterTargetArn"])[dlqID] {
			t.Errorf("%s: redrive %v, want %d receives then DLQ %s", fn.Name, rp, fn.MaxAttempts, dlqID)
		}
		for _, id := range []string{qID, dlqID} {
			if s.resources[id].Properties["SqsManagedSseEnabled"] != true {
				t.Errorf("%s: queue %s is not encrypted", fn.Name, id)
			}
			if !s.deniesInsecureTransport(id) {
				t.Errorf("%s: queue %s accepts requests without TLS", fn.Name, id)
			}
		}

		fnID, _ := s.fn(fn.Name)
		var esm map[string]any
		for _, id := range s.ofType("AWS::Lambda::EventSourceMapping") {
			p := s.resources[id].Properties
			if refs(p["EventSourceArn"])[qID] {
				if esm != nil {
					t.Errorf("%s: more than one event source on its queue", fn.Name)
				}
				esm = p
			}
		}
		if esm == nil {
			t.Errorf("%s: no event source on its queue", fn.Name)
			continue
		}
		if !refs(esm["FunctionName"])[fnID] {
			t.Errorf("%s: its queue feeds %v", fn.Name, esm["FunctionName"])
		}
		if !reflect.DeepEqual(esm["FunctionResponseTypes"], []any{"ReportBatchItemFailures"}) {
			t.Errorf("%s: FunctionResponseTypes %v", fn.Name, esm["FunctionResponseTypes"])
		}
		if num(esm["BatchSize"]) != float64(fn.BatchSize) {
			t.Errorf("%s: batch size %v, want %d", fn.Name, esm["BatchSize"], fn.BatchSize)
		}
		sc, _ := esm["ScalingConfig"].(map[string]any)
		switch {
		case fn.MaxConcurrency == 0 && sc != nil:
			t.Errorf("%s: scaling config %v, want none", fn.Name, sc)
		case fn.MaxConcurrency > 0 && num(sc["MaximumConcurrency"]) != float64(max(2, fn.MaxConcurrency)):
			t.Errorf("%s: maximum concurrency %v, want %d", fn.Name, sc, max(2, fn.MaxConcurrency))
		}
	}
	if jobs == 0 || len(s.ofType("AWS::SQS::Queue")) != 2*jobs {
		t.Errorf("%d queues for %d jobs, want a queue and a DLQ each", len(s.ofType("AWS::SQS::Queue")), jobs)
	}
}

// deniesInsecureTransport reports whether a queue's policy denies requests
// without TLS (enforceSSL).
func (s *synthesized) deniesInsecureTransport(queueID string) bool {
	for _, id := range s.ofType("AWS::SQS::QueuePolicy") {
		p := s.resources[id].Properties
		if !refs(p["Queues"])[queueID] {
			continue
		}
		for _, st := range statements(p["PolicyDocument"]) {
			if st["Effect"] == "Deny" && strings.Contains(fmt.Sprint(st["Condition"]), "aws:SecureTransport:false") {
				return true
			}
		}
	}
	return false
}

func TestSchedules(t *testing.T) {
	eachCatalog(t, testSchedules)
}

func testSchedules(t *testing.T, s *synthesized) {
	byName := map[string]catalog.Function{}
	for _, fn := range s.fns {
		byName[fn.Name] = fn
	}
	if n := len(s.ofType("AWS::Scheduler::Schedule")); n != len(s.scheds) {
		t.Errorf("%d schedules, want %d", n, len(s.scheds))
	}
	for _, sch := range s.scheds {
		target := byName[sch.Target]
		var want string
		if target.Kind == catalog.Job {
			want = s.logicalID(s.stack.Queues[target.Name].queue)
		} else {
			want, _ = s.fn(target.Name)
		}
		expr, _ := rateExpression(sch.Every)
		var found bool
		for _, id := range s.ofType("AWS::Scheduler::Schedule") {
			p := s.resources[id].Properties
			if p["Name"] != "crm-dev-"+sch.Name {
				continue
			}
			found = true
			if p["ScheduleExpression"] != expr {
				t.Errorf("%s: expression %v, want %s", sch.Name, p["ScheduleExpression"], expr)
			}
			tg := p["Target"].(map[string]any)
			if !refs(tg["Arn"])[want] {
				t.Errorf("%s: target %v, want %s", sch.Name, tg["Arn"], want)
			}
			if target.Kind == catalog.Job && tg["Input"] != sch.Payload {
				t.Errorf("%s: input %v, want %q", sch.Name, tg["Input"], sch.Payload)
			}
			// The schedule's role may do exactly one thing: start its target.
			role := firstRef(tg["RoleArn"])
			got := s.rolePermissions(role)
			action := "lambda:InvokeFunction"
			if target.Kind == catalog.Job {
				action = "sqs:SendMessage"
			}
			if d := cmp.Diff([]permission{{action, want}}, got); d != "" {
				t.Errorf("%s: role permissions (-want +got):\n%s", sch.Name, d)
			}
		}
		if !found {
			t.Errorf("no schedule %s", sch.Name)
		}
	}
}

func TestMigrationRunsBeforeFunctions(t *testing.T) {
	eachCatalog(t, testMigration)
}

func testMigration(t *testing.T, s *synthesized) {
	triggers := s.ofType("Custom::Trigger")
	if len(triggers) != 1 {
		t.Fatalf("%d triggers, want 1", len(triggers))
	}
	trig := s.resources[triggers[0]]
	migrateID, _ := s.fn(migrateName)
	version := firstRef(trig.Properties["HandlerArn"])
	if v := s.resources[version]; v.Type != "AWS::Lambda::Version" || !refs(v.Properties["FunctionName"])[migrateID] {
		t.Errorf("trigger runs %s, want a version of %s", version, migrateID)
	}
	if trig.Properties["InvocationType"] != "RequestResponse" {
		t.Errorf("trigger invocation %v: a failed migration must fail the deploy", trig.Properties["InvocationType"])
	}
	deps := dependsOn(trig)
	for _, typ := range []string{"AWS::RDS::DBInstance", "AWS::RDS::DBProxy", "AWS::RDS::DBProxyTargetGroup", "AWS::EC2::SecurityGroupIngress"} {
		for _, id := range s.ofType(typ) {
			if typ == "AWS::EC2::SecurityGroupIngress" && !strings.Contains(id, "Proxy") && !strings.Contains(id, "Database") {
				continue // the cache's and the endpoints' rules
			}
			if !deps[id] {
				t.Errorf("trigger does not wait for the %s %s", typ, id)
			}
		}
	}
	for _, fn := range s.fns {
		if fn.Name == migrateName {
			continue
		}
		_, r := s.fn(fn.Name)
		if !dependsOn(r)[triggers[0]] {
			t.Errorf("%s is deployed without waiting for the migration", fn.Name)
		}
	}
}

func TestAlarms(t *testing.T) {
	eachCatalog(t, testAlarms)
	t.Run("prod", func(t *testing.T) { testAlarms(t, synth(t, "real", "prod", realCatalog)) })
}

func testAlarms(t *testing.T, s *synthesized) {
	topics := s.ofType("AWS::SNS::Topic")
	if len(topics) != map[bool]int{false: 0, true: 1}[s.settings.alarmTopic()] {
		t.Fatalf("topics %v, alarm email %q, full monitoring %v", topics, s.settings.AlarmEmail, s.settings.FullMonitoring)
	}
	var alarms []map[string]any
	for _, id := range s.ofType("AWS::CloudWatch::Alarm") {
		p := s.resources[id].Properties
		if len(topics) == 0 {
			if p["AlarmActions"] != nil || p["OKActions"] != nil {
				t.Errorf("alarm %v has actions %v, %v without a topic", p["AlarmName"], p["AlarmActions"], p["OKActions"])
			}
		} else if !refs(p["AlarmActions"])[topics[0]] || !refs(p["OKActions"])[topics[0]] {
			t.Errorf("alarm %v does not notify the topic", p["AlarmName"])
		}
		alarms = append(alarms, p)
	}
	// find returns the alarm on a metric of the resource with logical id id.
	find := func(metric, id string) map[string]any {
		for _, p := range alarms {
			if p["MetricName"] == metric && refs(p["Dimensions"])[id] {
				return p
			}
		}
		return nil
	}
	// Every stage alarms on dead letters and the API's 5xx; a fully
	// monitored one on every function and queue age too, and nothing
	// else.
	full := s.settings.FullMonitoring
	want := 1
	for _, fn := range s.fns {
		id, _ := s.fn(fn.Name)
		for _, m := range []string{"Errors", "Throttles"} {
			if (find(m, id) != nil) != full {
				t.Errorf("%s: %s alarm %v, want %v", fn.Name, m, find(m, id) != nil, full)
			}
		}
		if full {
			want += 2
		}
		if fn.Kind != catalog.Job {
			continue
		}
		want++
		q := s.stack.Queues[fn.Name]
		dlq := find("ApproximateNumberOfMessagesVisible", s.logicalID(q.dlq))
		if dlq == nil || num(dlq["Threshold"]) != 0 || dlq["ComparisonOperator"] != "GreaterThanThreshold" {
			t.Errorf("%s: DLQ alarm %v, want depth > 0", fn.Name, dlq)
		}
		if age := find("ApproximateAgeOfOldestMessage", s.logicalID(q.queue)) != nil; age != full {
			t.Errorf("%s: oldest-message alarm %v, want %v", fn.Name, age, full)
		}
		if full {
			want++
		}
	}
	if len(alarms) != want {
		t.Errorf("%d alarms, want %d", len(alarms), want)
	}
	if !full && len(alarms) > freeAlarms {
		t.Errorf("%d alarms: more than CloudWatch's free %d", len(alarms), freeAlarms)
	}
	if find("5xx", s.ofType("AWS::ApiGatewayV2::Api")[0]) == nil {
		t.Error("no API 5xx alarm")
	}
	if len(s.ofType("AWS::CloudWatch::Dashboard")) != 1 {
		t.Error("no dashboard")
	}
	if subs := len(s.ofType("AWS::SNS::Subscription")); subs != map[bool]int{false: 0, true: 1}[s.settings.AlarmEmail != ""] {
		t.Errorf("%d subscriptions, alarm email %q", subs, s.settings.AlarmEmail)
	}
}

func TestStageSettings(t *testing.T) {
	dev := synth(t, "fixture", "dev", fixtureCatalog)
	prod := synth(t, "fixture", "prod", fixtureCatalog)
	for _, c := range []struct {
		s                       *synthesized
		protect, multiAZ, proxy bool
		nat                     int
	}{{dev, false, false, false, 1}, {prod, true, true, true, 2}} {
		db := c.s.resources[c.s.ofType("AWS::RDS::DBInstance")[0]].Properties
		if db["DeletionProtection"] != c.protect || db["MultiAZ"] != c.multiAZ {
			t.Errorf("%s: deletion protection %v, multi-AZ %v", c.s.settings.Stage, db["DeletionProtection"], db["MultiAZ"])
		}
		for _, k := range []string{"StorageEncrypted", "EnableIAMDatabaseAuthentication"} {
			if db[k] != true {
				t.Errorf("%s: database %s = %v", c.s.settings.Stage, k, db[k])
			}
		}
		if !strings.HasPrefix(fmt.Sprint(db["EngineVersion"]), "16") || num(db["BackupRetentionPeriod"]) < 1 {
			t.Errorf("%s: engine %v, backups %v days", c.s.settings.Stage, db["EngineVersion"], db["BackupRetentionPeriod"])
		}
		if n := len(c.s.ofType("AWS::EC2::Instance")); n != c.nat || len(c.s.ofType("AWS::EC2::NatGateway")) != 0 {
			t.Errorf("%s: %d NAT instances, want %d (and no NAT gateway)", c.s.settings.Stage, n, c.nat)
		}
		if proxies := c.s.ofType("AWS::RDS::DBProxy"); len(proxies) != map[bool]int{true: 1}[c.proxy] {
			t.Errorf("%s: %d proxies, want proxy %v", c.s.settings.Stage, len(proxies), c.proxy)
		} else if c.proxy {
			proxy := c.s.resources[proxies[0]].Properties
			auth := asSlice(proxy["Auth"])[0].(map[string]any)
			if proxy["RequireTLS"] != true || auth["IAMAuth"] != "REQUIRED" {
				t.Errorf("%s: proxy TLS %v, IAM %v", c.s.settings.Stage, proxy["RequireTLS"], auth["IAMAuth"])
			}
		}
		// A serverless cache is always TLS and encrypted at rest.
		if id := c.s.cacheID(); !c.s.settings.CacheServerless {
			cache := c.s.resources[id].Properties
			if cache["TransitEncryptionEnabled"] != true || cache["AtRestEncryptionEnabled"] != true {
				t.Errorf("%s: cache encryption %v", c.s.settings.Stage, cache)
			}
		}
	}
}

// cacheUsers returns the logical ids of the functions' ElastiCache user
// and of the cache: the replication group, or the serverless cache.
func (s *synthesized) cacheUsers() (user, cache string) {
	for _, id := range s.ofType("AWS::ElastiCache::User") {
		if s.resources[id].Properties["UserName"] != "default" {
			user = id
		}
	}
	return user, s.cacheID()
}

// cacheID is the logical id of the stage's one cache, of the kind its
// settings say; it fails the test on any other cache.
func (s *synthesized) cacheID() string {
	groups, serverless := s.ofType("AWS::ElastiCache::ReplicationGroup"), s.ofType("AWS::ElastiCache::ServerlessCache")
	want := map[bool][2]int{false: {1, 0}, true: {0, 1}}[s.settings.CacheServerless]
	if len(groups) != want[0] || len(serverless) != want[1] {
		panic(fmt.Sprintf("%s: replication groups %v, serverless caches %v, settings say serverless %v",
			s.settings.Stage, groups, serverless, s.settings.CacheServerless))
	}
	return append(groups, serverless...)[0]
}

// TestCacheIAMAuth: the cache takes IAM authentication only, as one user
// allowed what shared/cache does; the default user is off, and there is no
// AUTH token.
func TestCacheIAMAuth(t *testing.T) {
	test := func(t *testing.T, s *synthesized) {
		prefix := "crm-" + s.settings.Stage
		users := s.ofType("AWS::ElastiCache::User")
		if len(users) != 2 {
			t.Fatalf("%d cache users, want the functions' and the default", len(users))
		}
		byName := map[string]map[string]any{}
		ids := map[string]bool{}
		for _, id := range users {
			p := s.resources[id].Properties
			byName[fmt.Sprint(p["UserName"])] = p
			ids[fmt.Sprint(p["UserId"])] = true
		}
		app := byName[prefix+"-app"]
		// Only a cluster-mode client needs CLUSTER SLOTS.
		access := appcache.AccessString
		if s.settings.CacheServerless {
			access = appcache.ClusterAccessString
		}
		if d := cmp.Diff(map[string]any{
			"Engine": "valkey", "UserId": prefix + "-app", "UserName": prefix + "-app",
			"AuthenticationMode": map[string]any{"Type": "iam"}, "AccessString": access,
		}, app); d != "" {
			t.Errorf("the functions' user (-want +got):\n%s", d)
		}
		def := byName["default"]
		if def == nil || def["Engine"] != "valkey" || !strings.HasPrefix(fmt.Sprint(def["AccessString"]), "off ") ||
			def["UserId"] == "default" || def["Passwords"] != nil {
			t.Errorf("default user %v: want it off, with an id of its own and no password", def)
		}

		groups := s.ofType("AWS::ElastiCache::UserGroup")
		if len(groups) != 1 {
			t.Fatalf("%d user groups, want 1", len(groups))
		}
		ug := s.resources[groups[0]]
		members := map[string]bool{}
		for _, u := range strs(ug.Properties["UserIds"]) {
			members[u] = true
		}
		if ug.Properties["Engine"] != "valkey" || !reflect.DeepEqual(members, ids) {
			t.Errorf("user group %v, want exactly the users %v", ug.Properties, ids)
		}
		for _, u := range users {
			if !dependsOn(ug)[u] {
				t.Errorf("user group created before user %s", u)
			}
		}

		_, cacheID := s.cacheUsers()
		rg := s.resources[cacheID].Properties
		if s.settings.CacheServerless {
			// Always TLS, and no AUTH token to give.
			if firstRef(rg["UserGroupId"]) != groups[0] || rg["Engine"] != "valkey" {
				t.Errorf("serverless cache: user group %v, engine %v: want %s, valkey", rg["UserGroupId"], rg["Engine"], groups[0])
			}
			return
		}
		if firstRef(rg["UserGroupIds"]) != groups[0] || len(asSlice(rg["UserGroupIds"])) != 1 {
			t.Errorf("replication group user groups %v, want %s", rg["UserGroupIds"], groups[0])
		}
		if rg["AuthToken"] != nil || rg["TransitEncryptionEnabled"] != true || rg["Engine"] != "valkey" {
			t.Errorf("replication group: AUTH token %v, TLS %v, engine %v: want no token, TLS, valkey",
				rg["AuthToken"], rg["TransitEncryptionEnabled"], rg["Engine"])
		}
	}
	eachCatalog(t, test)
	t.Run("prod", func(t *testing.T) { test(t, synth(t, "real", "prod", realCatalog)) })
}

// TestInterfaceEndpoints: no stage pays for interface endpoints (SQS and
// Secrets Manager are reached over IPv6); a stage that asks for them gets
// SQS and Secrets Manager in every AZ it names, private DNS on, reachable
// on 443 from the VPC.
func TestInterfaceEndpoints(t *testing.T) {
	for _, c := range []struct {
		stage string
		want  []string
		azs   int
	}{{"dev", nil, 0}, {"dev+endpoints", []string{".secretsmanager", ".sqs"}, 2}} {
		s := synth(t, "real", c.stage, realCatalog)
		var got []string
		for _, id := range s.ofType("AWS::EC2::VPCEndpoint") {
			p := s.resources[id].Properties
			if p["VpcEndpointType"] != "Interface" {
				continue
			}
			svc := fmt.Sprint(p["ServiceName"])
			for _, name := range []string{".secretsmanager", ".sqs"} {
				if strings.Contains(svc, name) {
					got = append(got, name)
				}
			}
			if p["PrivateDnsEnabled"] != true || len(asSlice(p["SubnetIds"])) != c.azs {
				t.Errorf("%s: endpoint %s: private DNS %v, subnets %v; want %d", c.stage, svc, p["PrivateDnsEnabled"], p["SubnetIds"], c.azs)
			}
		}
		sort.Strings(got)
		if d := cmp.Diff(c.want, got); d != "" {
			t.Errorf("%s: interface endpoints (-want +got):\n%s", c.stage, d)
		}
	}
}

func num(v any) float64 {
	switch n := v.(type) {
	case float64:
		return n
	case int:
		return float64(n)
	}
	return -1
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

func dependsOn(r resource) map[string]bool {
	out := map[string]bool{}
	switch d := r.DependsOn.(type) {
	case string:
		out[d] = true
	case []any:
		for _, x := range d {
			out[fmt.Sprint(x)] = true
		}
	}
	return out
}

// TestDatabaseUsers: only migrate connects as the schema's owner; the
// proxy signs in to the instance as the runtime role with IAM (end to end),
// so no secret of that role exists, and the master secret is the proxy's
// only one.
func TestDatabaseUsers(t *testing.T) {
	s := synth(t, "real", "prod", realCatalog)
	proxy := s.resources[s.ofType("AWS::RDS::DBProxy")[0]]
	if proxy.Properties["DefaultAuthScheme"] != "IAM_AUTH" {
		t.Errorf("proxy DefaultAuthScheme = %v, want IAM_AUTH", proxy.Properties["DefaultAuthScheme"])
	}
	if auth := listOf(proxy.Properties["Auth"]); len(auth) != 1 {
		t.Errorf("proxy has %d secrets, want the master secret alone", len(auth))
	}
	role := firstRef(proxy.Properties["RoleArn"])
	var connects []string
	for _, id := range s.ofType("AWS::IAM::Policy") {
		p := s.resources[id]
		if !refs(p.Properties["Roles"])[role] {
			continue
		}
		for _, st := range statements(p.Properties["PolicyDocument"]) {
			if st["Action"] == "rds-db:connect" {
				connects = append(connects, fmt.Sprint(st["Resource"]))
			}
		}
	}
	if len(connects) != 1 || !strings.Contains(connects[0], "/"+dbAppUser) || strings.Contains(connects[0], "/"+dbUser+" ") {
		t.Errorf("the proxy's role connects to %v, want the instance as %s only", connects, dbAppUser)
	}
	for _, fn := range s.fns {
		if fn.Needs(catalog.Database) && (databaseUser(fn) == dbUser) != (fn.Name == catalog.Migrate) {
			t.Errorf("%s connects as %s", fn.Name, databaseUser(fn))
		}
	}
}
