package main

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"

	"github.com/personalcrm/core/shared/catalog"
)

// Idle budgets a month, both met (README.md, "Idle cost"): dev's with a
// serverless cache and no alarm topic (no subscriber).
const (
	prodIdleBudget = 150.0
	devIdleBudget  = 30.0
)

func (s *synthesized) idleCounts(t *testing.T) idleCounts {
	c := idleCounts{
		Secrets: len(s.ofType("AWS::SecretsManager::Secret")),
		KMSKeys: len(s.ofType("AWS::KMS::Key")),
		Alarms:  len(s.ofType("AWS::CloudWatch::Alarm")),
	}
	for _, id := range s.ofType("AWS::CloudWatch::Dashboard") {
		c.DashboardMetrics = append(c.DashboardMetrics, dashboardMetrics(t, s.resources[id].Properties["DashboardBody"]))
	}
	return c
}

// dashboardMetrics counts the metrics a dashboard's body graphs. The body
// is JSON joined with references, which stand inside its strings.
func dashboardMetrics(t *testing.T, body any) int {
	t.Helper()
	var b strings.Builder
	switch v := body.(type) {
	case string:
		b.WriteString(v)
	case map[string]any:
		j := asSlice(v["Fn::Join"])
		if len(j) != 2 {
			t.Fatalf("dashboard body %v", v)
		}
		for _, part := range asSlice(j[1]) {
			if p, ok := part.(string); ok {
				b.WriteString(p)
			} else {
				b.WriteString("ref")
			}
		}
	}
	var doc struct {
		Widgets []struct {
			Properties struct {
				Metrics []json.RawMessage `json:"metrics"`
			} `json:"properties"`
		} `json:"widgets"`
	}
	if err := json.Unmarshal([]byte(b.String()), &doc); err != nil || len(doc.Widgets) == 0 {
		t.Fatalf("dashboard body: %v (%d widgets)", err, len(doc.Widgets))
	}
	n := 0
	for _, w := range doc.Widgets {
		n += len(w.Properties.Metrics)
	}
	return n
}

// The free tier as cost.go counts it: alarms past the tenth and
// dashboards past the third or of more than 50 metrics are billed.
func TestCloudWatchFreeTier(t *testing.T) {
	s, _ := stageSettings("dev")
	for _, c := range []struct {
		alarms  int
		metrics []int
		want    float64
	}{
		{6, []int{20}, 0},
		{10, []int{50, 50, 50}, 0},
		{11, []int{51}, 0.10 + 3},
		{89, []int{98}, 7.90 + 3},
		{0, []int{10, 10, 10, 10}, 3},
		{0, nil, 0},
	} {
		var got float64
		for _, l := range idleCost(s, idleCounts{Alarms: c.alarms, DashboardMetrics: c.metrics}) {
			if l.Item == "alarms, dashboard" {
				got = l.Monthly
			}
		}
		if math.Abs(got-c.want) > 0.001 {
			t.Errorf("%d alarms, dashboards of %v metrics: $%.2f, want $%.2f", c.alarms, c.metrics, got, c.want)
		}
	}
}

// TestIdleCost prices each stage's always-on resources from its settings
// and template, checks the settings against what the template holds,
// holds the totals to their budgets, and logs the table README.md shows.
func TestIdleCost(t *testing.T) {
	var stages []string
	var before, after [][]costLine
	// The stages as they were monitored everything, as prod does.
	full := synth(t, "real", "prod", realCatalog)
	if !full.settings.FullMonitoring {
		t.Fatal("prod is not fully monitored")
	}
	fullCounts := full.idleCounts(t)
	for _, stage := range []string{"dev", "prod"} {
		s := synth(t, "real", stage, realCatalog)
		set := s.settings
		if n := len(s.ofType("AWS::EC2::Instance")); n != set.NATs {
			t.Errorf("%s: %d NAT instances, settings say %d", stage, n, set.NATs)
		}
		if n := len(s.ofType("AWS::RDS::DBProxy")); (n == 1) != set.DBProxy || n > 1 {
			t.Errorf("%s: %d RDS Proxies, settings say proxy %v", stage, n, set.DBProxy)
		}
		endpoints := 0
		for _, id := range s.ofType("AWS::EC2::VPCEndpoint") {
			if s.resources[id].Properties["VpcEndpointType"] == "Interface" {
				endpoints++
			}
		}
		if endpoints != interfaceEndpointServices*set.EndpointAZs {
			t.Errorf("%s: %d interface endpoints, settings say %d AZ", stage, endpoints, set.EndpointAZs)
		}
		cache := s.resources[s.cacheID()].Properties
		if !set.CacheServerless && (num(cache["NumCacheClusters"]) != float64(set.CacheNodes) || cache["CacheNodeType"] != set.CacheNodeType) {
			t.Errorf("%s: cache %v x %v, settings say %d x %s", stage, cache["NumCacheClusters"], cache["CacheNodeType"], set.CacheNodes, set.CacheNodeType)
		}
		counts := s.idleCounts(t)
		lines := idleCost(set, counts)
		for _, l := range lines {
			if l.Monthly < 0 || math.IsNaN(l.Monthly) {
				t.Errorf("%s: %s costs %v", stage, l.Item, l.Monthly)
			}
			// A stage nobody is paged for stays in CloudWatch's free tier.
			if l.Item == "alarms, dashboard" && !set.FullMonitoring && l.Monthly != 0 {
				t.Errorf("%s: %s costs $%.2f (%s), want the free tier", stage, l.Item, l.Monthly, l.Detail)
			}
		}

		// The same stage as it was: NAT gateways, interface endpoints, no
		// IPv6, RDS Proxy, cache nodes (dev one cache.t4g.micro); prod on
		// a t4g.medium and two cache.t4g.small nodes.
		old := set
		old.IPv6Egress, old.NATInstanceType, old.DBProxy, old.FullMonitoring = false, "", true, true
		old.NATs, old.EndpointAZs = 1, 1
		old.CacheServerless, old.CacheNodeType, old.CacheNodes = false, "cache.t4g.micro", 1
		if stage == "prod" {
			old.NATs, old.EndpointAZs = 2, 2
			old.DBInstanceType = awsec2.InstanceType_Of(awsec2.InstanceClass_BURSTABLE4_GRAVITON, awsec2.InstanceSize_MEDIUM)
			old.CacheNodeType, old.CacheNodes = "cache.t4g.small", 2
		}
		oldCounts := counts
		oldCounts.Alarms, oldCounts.DashboardMetrics = fullCounts.Alarms, fullCounts.DashboardMetrics
		// and an alarm topic under its key, with or without a subscriber.
		oldCounts.KMSKeys = fullCounts.KMSKeys
		oldLines := idleCost(old, oldCounts)
		stages = append(stages, stage)
		before, after = append(before, oldLines), append(after, lines)

		got := total(lines)
		switch stage {
		case "prod":
			if got > prodIdleBudget {
				t.Errorf("prod idles at $%.2f a month, budget $%.2f", got, prodIdleBudget)
			}
		case "dev":
			if got > devIdleBudget {
				t.Errorf("dev idles at $%.2f a month, budget $%.2f", got, devIdleBudget)
			}
		}
		if total(oldLines) <= got {
			t.Errorf("%s: $%.2f now, $%.2f before", stage, got, total(oldLines))
		}
	}
	t.Logf("idle cost before:\n%s", costTable(stages, before))
	t.Logf("idle cost now:\n%s", costTable(stages, after))
}

// TestOneCustomerKey: the secrets use Secrets Manager's AWS-managed key
// (no monthly charge), and a stage's only customer key ($1 a month) is
// the alarm topic's, which CloudWatch must be allowed to use: it cannot
// publish to a topic under the AWS-managed SNS key. A stage without an
// alarm topic (dev without a subscriber) has no customer key at all.
// README.md's idle cost counts on both.
func TestOneCustomerKey(t *testing.T) {
	for _, c := range []struct {
		name, stage string
		cat         func() ([]catalog.Function, []catalog.Schedule)
		keys        int
	}{
		{"real", "dev", realCatalog, 0},
		{"fixture", "dev", fixtureCatalog, 1},
		{"real", "prod", realCatalog, 1},
	} {
		s := synth(t, c.name, c.stage, c.cat)
		what := c.name + "/" + c.stage
		for _, id := range s.ofType("AWS::SecretsManager::Secret") {
			if k := s.resources[id].Properties["KmsKeyId"]; k != nil {
				t.Errorf("%s: secret %s is encrypted with %v, not the AWS-managed key", what, id, k)
			}
		}
		keys, topics := s.ofType("AWS::KMS::Key"), s.ofType("AWS::SNS::Topic")
		if len(keys) != c.keys || len(topics) != c.keys {
			t.Fatalf("%s: customer keys %v, topics %v, want %d of each", what, keys, topics, c.keys)
		}
		if c.keys == 1 {
			if k := s.resources[topics[0]].Properties["KmsMasterKeyId"]; firstRef(k) != keys[0] {
				t.Errorf("%s: the alarm topic's key is %v, not %s", what, k, keys[0])
			}
		}
	}
}
