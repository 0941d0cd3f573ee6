//lint:file-ignore SA1019 the Go bindings have no other type for a stack's synthesis messages than cxapi's

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/cxapi"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/personalcrm/core/shared/catalog"
)

// Synthesis starts Node through jsii and takes seconds, so each catalog and
// stage is synthesized once and shared by the tests that read it.

// synthesized is one stack, its template and what cdk-nag said about it.
type synthesized struct {
	// name is the catalog's: real or fixture.
	name     string
	stack    *Stack
	fns      []catalog.Function
	scheds   []catalog.Schedule
	settings Settings
	template assertions.Template
	// resources is the template's Resources section.
	resources map[string]resource
	outputs   map[string]any
	// nag holds the unsuppressed AwsSolutions errors and warnings.
	nagErrors, nagWarnings []string
	took                   time.Duration
}

type resource struct {
	Type       string         `json:"Type"`
	Properties map[string]any `json:"Properties"`
	DependsOn  any            `json:"DependsOn"`
}

var (
	assetRoot string
	synths    sync.Map // key -> *synthOnce
)

type synthOnce struct {
	once sync.Once
	s    *synthesized
	err  error
}

func TestMain(m *testing.M) {
	// The pinned Node (package.json), as the CLI uses, when installed.
	if root, err := repoRoot("."); err == nil {
		if bin := filepath.Join(root, "node_modules", ".bin"); isFile(filepath.Join(bin, "node")) {
			os.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
		}
	}
	os.Setenv("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
	os.Setenv("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
	dir, err := os.MkdirTemp("", "crm-infra-assets-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	assetRoot = dir
	code := m.Run()
	jsii.Close()
	os.RemoveAll(dir)
	os.Exit(code)
}

// realCatalog is the project's catalog as infra reads it in the app.
func realCatalog() ([]catalog.Function, []catalog.Schedule) {
	return catalog.All(), catalog.Schedules()
}

// fixtureCatalog has what the real catalog does not have yet: jobs (one
// with a batch above ten and a concurrency cap), ops including migrate,
// producers, every secret-bearing resource, and schedules of both targets.
func fixtureCatalog() ([]catalog.Function, []catalog.Schedule) {
	fns := []catalog.Function{
		{Name: "health", Kind: catalog.Route, Method: "GET", Path: "/health", MemoryMB: 256, Timeout: 10 * time.Second,
			Uses: []catalog.Resource{catalog.Database, catalog.Cache, catalog.QueueStats}},
		{Name: "auth-callback", Kind: catalog.Route, Method: "GET", Path: "/auth/google/callback", MemoryMB: 512, Timeout: 15 * time.Second,
			Uses: []catalog.Resource{catalog.Database, catalog.Cache, catalog.Google, catalog.TokenKeys}},
		{Name: "contacts-get", Kind: catalog.Route, Method: "GET", Path: "/v1/contacts/{id}", MemoryMB: 256, Timeout: 10 * time.Second,
			Uses: []catalog.Resource{catalog.Database}},
		{Name: "contacts-enrich", Kind: catalog.Route, Method: "POST", Path: "/v1/contacts/{id}/enrich", MemoryMB: 256, Timeout: 10 * time.Second,
			Uses: []catalog.Resource{catalog.Database}, Enqueues: []string{"enrichment"}, MaxConcurrency: 5},
		{Name: "emails-sync", Kind: catalog.Route, Method: "POST", Path: "/v1/emails/sync", MemoryMB: 256, Timeout: 10 * time.Second,
			Uses: []catalog.Resource{catalog.Database}, Enqueues: []string{"email-sync"}},
		{Name: "email-sync", Kind: catalog.Job, MemoryMB: 512, Timeout: 2 * time.Minute, MaxConcurrency: 3,
			MaxAttempts: 4, BatchSize: 5, Enqueues: []string{"contact-extraction"},
			Uses: []catalog.Resource{catalog.Database, catalog.Google, catalog.TokenKeys}},
		{Name: "contact-extraction", Kind: catalog.Job, MemoryMB: 256, Timeout: 30 * time.Second,
			MaxAttempts: 5, BatchSize: 10, MaxConcurrency: 4, Uses: []catalog.Resource{catalog.Database}},
		{Name: "enrichment", Kind: catalog.Job, MemoryMB: 256, Timeout: 20 * time.Second, MaxConcurrency: 1,
			MaxAttempts: 3, BatchSize: 25, Uses: []catalog.Resource{catalog.Database, catalog.Cache}},
		{Name: "ai-analysis", Kind: catalog.Job, MemoryMB: 1024, Timeout: 5 * time.Minute,
			MaxAttempts: 2, BatchSize: 1, Uses: []catalog.Resource{catalog.OpenAI}},
		{Name: "calendar-sync", Kind: catalog.Job, MemoryMB: 512, Timeout: 2 * time.Minute, MaxConcurrency: 1,
			MaxAttempts: 5, BatchSize: 1, Uses: []catalog.Resource{catalog.Database, catalog.Google, catalog.TokenKeys}},
		{Name: "migrate", Kind: catalog.Op, MemoryMB: 256, Timeout: 5 * time.Minute,
			Uses: []catalog.Resource{catalog.Database}},
		{Name: "outbox-relay", Kind: catalog.Op, MemoryMB: 256, Timeout: time.Minute, MaxConcurrency: 1,
			Uses:     []catalog.Resource{catalog.Database},
			Enqueues: []string{"email-sync", "contact-extraction", "enrichment", "ai-analysis"}},
	}
	scheds := []catalog.Schedule{
		{Name: "outbox", Every: time.Minute, Target: "outbox-relay", Summary: "Send jobs left in the outbox"},
		{Name: "periodic-sync", Every: 6 * time.Hour, Target: "email-sync", Summary: "Sync one account",
			Payload: `{"userId":"0190a6f0-0000-7000-8000-000000000001","accountId":"0190a6f0-0000-7000-8000-000000000002"}`},
	}
	return fns, scheds
}

// The custom domain's context in the synthesized stages.
const (
	testHostedZone     = "Z0123456789ABCDEFGHIJ"
	testCertificateARN = "arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-1111-2222-3333-444455556666"
)

// synth returns the shared synthesis of a catalog in a stage, with cdk-nag.
// A stage may name a variant of its settings: "dev+cert" is dev on a
// custom domain with the operator's certificate.
func synth(t *testing.T, name, stage string, cat func() ([]catalog.Function, []catalog.Schedule)) *synthesized {
	t.Helper()
	v, _ := synths.LoadOrStore(name+"/"+stage, &synthOnce{})
	so := v.(*synthOnce)
	so.once.Do(func() { so.s, so.err = doSynth(name, stage, cat) })
	if so.err != nil {
		t.Fatalf("synth %s/%s: %v", name, stage, so.err)
	}
	return so.s
}

func doSynth(name, stage string, cat func() ([]catalog.Function, []catalog.Schedule)) (s *synthesized, err error) {
	start := time.Now()
	fns, scheds := cat()
	root := filepath.Join(assetRoot, name)
	for _, fn := range fns {
		dir := filepath.Join(root, fn.Name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, "bootstrap"), []byte("placeholder "+fn.Name), 0o755); err != nil {
			return nil, err
		}
	}
	stage, variant, _ := strings.Cut(stage, "+")
	settings, err := stageSettings(stage)
	if err != nil {
		return nil, err
	}
	// The project's dev stage as deployed by default has no subscriber,
	// hence no alarm topic; the fixture's dev stage and prod have one.
	if stage == "prod" || name != "real" {
		settings.AlarmEmail = "ops@example.com"
	}
	if stage == "prod" {
		settings.AppURL = "https://app.example.com/"
		settings.GoogleClientID = "1234-abc.apps.googleusercontent.com"
		settings.Features = []string{"FEATURE_AI_AGENTS"}
		settings.SecretsRevision = "2"
		settings.GooglePubSubTopic = "projects/crm-prod-project/topics/gmail-push"
		settings.GooglePushServiceAccount = "gmail-push@crm-prod-project.iam.gserviceaccount.com"
		settings.GooglePubSubSubscription = "projects/crm-prod-project/subscriptions/gmail-push"
		// prod is on its own domain, in a hosted zone, with a second web app.
		settings.AllowedOrigins = []string{"https://admin.example.com"}
		settings.DomainName, settings.HostedZoneID = "api.example.com", testHostedZone
	}
	switch variant {
	case "":
	case "cert":
		// On a domain with the operator's certificate, and two web apps
		// besides the API itself.
		settings.AppURL = "https://app.example.com/welcome"
		settings.AllowedOrigins = []string{"https://admin.example.com", "https://app.example.com:8443"}
		settings.DomainName, settings.CertificateARN = "api.example.com", testCertificateARN
	case "endpoints":
		// Interface endpoints in both AZs, which no stage makes today.
		settings.EndpointAZs = 2
	default:
		return nil, fmt.Errorf("unknown variant %q", variant)
	}

	outdir := filepath.Join(assetRoot, "cdk.out."+name+"."+stage+"."+variant)
	// A failed validation (cdk-nag errors among its findings) panics
	// through jsii; its report says what failed.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v%s", r, validationReport(outdir))
		}
	}()
	app := awscdk.NewApp(&awscdk.AppProps{Context: cdkContext(), Outdir: jsii.String(outdir)})
	st, err := NewStack(app, "crm-"+stage, &StackProps{
		Settings: settings, Functions: fns, Schedules: scheds, AssetRoot: root,
	})
	if err != nil {
		return nil, err
	}
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)

	tpl := assertions.Template_FromStack(st.Stack, nil)
	raw, err := json.Marshal(tpl.ToJSON())
	if err != nil {
		return nil, err
	}
	var doc struct {
		Resources map[string]resource `json:"Resources"`
		Outputs   map[string]any      `json:"Outputs"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	ann := assertions.Annotations_FromStack(st.Stack)
	nagRE := assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))
	s = &synthesized{
		name: name, stack: st, fns: fns, scheds: scheds, settings: settings,
		template: tpl, resources: doc.Resources, outputs: doc.Outputs,
		nagErrors:   messages(ann.FindError(jsii.String("*"), nagRE)),
		nagWarnings: messages(ann.FindWarning(jsii.String("*"), nagRE)),
	}
	s.took = time.Since(start)
	fmt.Fprintf(os.Stderr, "synthesized %s/%s in %s\n", name, stage, s.took.Round(time.Millisecond))
	return s, nil
}

// validationReport lists the findings of a synthesis that failed
// validation (cdk-nag errors among them), one per line.
func validationReport(outdir string) string {
	b, err := os.ReadFile(filepath.Join(outdir, "validation-report.json"))
	if err != nil {
		return ""
	}
	var report struct {
		PluginReports []struct {
			Violations []struct {
				Description         string `json:"description"`
				ViolatingConstructs []struct {
					ConstructPath string `json:"constructPath"`
				} `json:"violatingConstructs"`
			} `json:"violations"`
		} `json:"pluginReports"`
	}
	if err := json.Unmarshal(b, &report); err != nil {
		return "\n" + string(b)
	}
	var lines []string
	for _, p := range report.PluginReports {
		for _, v := range p.Violations {
			desc, _, _ := strings.Cut(v.Description, ":")
			for _, c := range v.ViolatingConstructs {
				lines = append(lines, desc+" at "+c.ConstructPath)
			}
		}
	}
	sort.Strings(lines)
	return "\n" + strings.Join(lines, "\n")
}

// cdkContext is the context of cdk.json (the feature flags), so tests see
// the template the CLI deploys.
func cdkContext() *map[string]any {
	root, err := repoRoot(".")
	if err != nil {
		panic(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "cdk.json"))
	if err != nil {
		panic(err)
	}
	var cfg struct {
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		panic(err)
	}
	return &cfg.Context
}

func messages(msgs *[]*cxapi.SynthesisMessage) []string {
	var out []string
	for _, m := range *msgs {
		out = append(out, fmt.Sprintf("%s: %v", *m.Id, m.Entry.Data))
	}
	sort.Strings(out)
	return out
}

// logicalID is the template id of a construct's CloudFormation resource.
func (s *synthesized) logicalID(c constructs.IConstruct) string {
	return *s.stack.Stack.GetLogicalId(c.Node().DefaultChild().(awscdk.CfnElement))
}

// ofType returns the logical ids of every resource of a type, sorted.
func (s *synthesized) ofType(typ string) []string {
	var ids []string
	for id, r := range s.resources {
		if r.Type == typ {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// check runs an assertions call, which panics on failure, as a test error.
func check(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			msg := fmt.Sprint(r)
			if len(msg) > 2000 {
				msg = msg[:2000] + "..."
			}
			t.Errorf("%s: %s", what, strings.TrimSpace(msg))
		}
	}()
	f()
}
