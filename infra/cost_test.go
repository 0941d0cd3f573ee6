package main

import (
	"math"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
)

// Idle budgets a month. Prod's is met. Dev's goal of $30 is not: the NAT
// instance, the smallest PostgreSQL instance and the one Valkey node
// alone come to $30.68 (README.md, "Idle cost"), so dev's budget is what
// the stage needs with them kept.
const (
	prodIdleBudget = 150.0
	devIdleBudget  = 45.0
	devIdleGoal    = 30.0
)

// devFloor are the lines dev keeps whatever its settings: IPv4 egress
// for OpenAI and the secret rotation, the database, the cache.
var devFloor = map[string]bool{"NAT (IPv4 only)": true, "PostgreSQL": true, "Valkey": true}

func (s *synthesized) idleCounts() idleCounts {
	return idleCounts{
		Secrets:    len(s.ofType("AWS::SecretsManager::Secret")),
		KMSKeys:    len(s.ofType("AWS::KMS::Key")),
		Alarms:     len(s.ofType("AWS::CloudWatch::Alarm")),
		Dashboards: len(s.ofType("AWS::CloudWatch::Dashboard")),
	}
}

// TestIdleCost prices each stage's always-on resources from its settings
// and template, checks the settings against what the template holds,
// holds the totals to their budgets, and logs the table README.md shows.
func TestIdleCost(t *testing.T) {
	var stages []string
	var before, after [][]costLine
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
		cache := s.resources[s.ofType("AWS::ElastiCache::ReplicationGroup")[0]].Properties
		if num(cache["NumCacheClusters"]) != float64(set.CacheNodes) || cache["CacheNodeType"] != set.CacheNodeType {
			t.Errorf("%s: cache %v x %v, settings say %d x %s", stage, cache["NumCacheClusters"], cache["CacheNodeType"], set.CacheNodes, set.CacheNodeType)
		}
		counts := s.idleCounts()
		lines := idleCost(set, counts)
		for _, l := range lines {
			if l.Monthly < 0 || math.IsNaN(l.Monthly) {
				t.Errorf("%s: %s costs %v", stage, l.Item, l.Monthly)
			}
		}

		// The same stage as it was: NAT gateways, interface endpoints, no
		// IPv6, RDS Proxy; prod on a t4g.medium and two cache.t4g.small
		// nodes.
		old := set
		old.IPv6Egress, old.NATInstanceType, old.DBProxy = false, "", true
		old.NATs, old.EndpointAZs = 1, 1
		if stage == "prod" {
			old.NATs, old.EndpointAZs = 2, 2
			old.DBInstanceType = awsec2.InstanceType_Of(awsec2.InstanceClass_BURSTABLE4_GRAVITON, awsec2.InstanceSize_MEDIUM)
			old.CacheNodeType = "cache.t4g.small"
		}
		oldLines := idleCost(old, counts)
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
			floor, found := 0.0, 0
			for _, l := range lines {
				if devFloor[l.Item] {
					floor += l.Monthly
					found++
				}
			}
			if found != len(devFloor) {
				t.Fatalf("dev's floor: %d of the lines %v", found, devFloor)
			}
			if floor <= devIdleGoal {
				t.Errorf("NAT, database and cache cost $%.2f: dev's goal of $%.0f is within reach, lower devIdleBudget", floor, devIdleGoal)
			}
		}
		if total(oldLines) <= got {
			t.Errorf("%s: $%.2f now, $%.2f before", stage, got, total(oldLines))
		}
	}
	t.Logf("idle cost before:\n%s", costTable(stages, before))
	t.Logf("idle cost now:\n%s", costTable(stages, after))
}
