package main

import (
	"fmt"
	"strings"
)

// The idle cost model: what a stage costs a month before anyone uses it,
// from its settings and the counts its template holds. Prices are
// us-east-1 on-demand list prices (December 2026), a month is 730 hours;
// taxes, data transfer and free tiers other than CloudWatch's are left
// out. README.md's idle cost table is this model's output
// (TestIdleCost logs it).

const hoursPerMonth = 730

// Hourly list prices.
var (
	ec2Hourly = map[string]float64{"t4g.nano": 0.0042, "t4g.micro": 0.0084}
	// PostgreSQL, single-AZ; Multi-AZ costs twice as much.
	rdsHourly = map[string]float64{"t4g.micro": 0.016, "t4g.small": 0.032, "t4g.medium": 0.065}
	// Valkey nodes (20% below Redis OSS's).
	valkeyHourly = map[string]float64{"cache.t4g.micro": 0.0128, "cache.t4g.small": 0.0256, "cache.t4g.medium": 0.0512}
)

const (
	// ElastiCache Serverless for Valkey bills the data stored, at least
	// 100 MB, by the GB-hour, and ECPUs by the million (a simple GET or
	// SET of up to 1 KB is one ECPU); idle, only the minimum.
	valkeyServerlessGBHour       = 0.0837
	valkeyServerlessMinGB        = 0.1
	valkeyServerlessPerMillionEC = 0.00227

	natGatewayHourly        = 0.045
	publicIPv4Hourly        = 0.005
	interfaceEndpointHourly = 0.01 // per AZ
	gp3GBMonth              = 0.08 // EBS
	rdsGP3GBMonth           = 0.115
	// RDS Proxy bills the target instance's vCPUs, at least two (every
	// t4g size up to medium has two).
	proxyVCPUHourly = 0.015
	proxyMinVCPU    = 2
	secretMonth     = 0.40
	kmsKeyMonth     = 1.00
	// CloudWatch's free tier, every month: 10 standard-resolution metric
	// alarms, and 3 dashboards of up to 50 metrics each; past it, $0.10
	// an alarm and $3 a dashboard.
	alarmMonth          = 0.10
	freeAlarms          = 10
	dashboardMonth      = 3.00
	freeDashboards      = 3
	freeDashboardMetric = 50
	// natRootGB is the AL2023 image's root volume.
	natRootGB = 8
	// interfaceEndpointServices are SQS and Secrets Manager.
	interfaceEndpointServices = 2
)

// costLine is one row of the table.
type costLine struct {
	Item, Detail string
	Monthly      float64
}

// idleCounts are what the template holds besides the settings.
type idleCounts struct {
	Secrets, KMSKeys, Alarms int
	// DashboardMetrics holds, for each dashboard, how many metrics it
	// graphs.
	DashboardMetrics []int
}

// freeDashboards is how many of the dashboards the free tier covers: up
// to three of those with at most 50 metrics.
func (c idleCounts) freeDashboards() int {
	n := 0
	for _, m := range c.DashboardMetrics {
		if m <= freeDashboardMetric {
			n++
		}
	}
	return min(n, freeDashboards)
}

// idleCost returns a stage's always-on monthly cost, line by line.
func idleCost(s Settings, c idleCounts) []costLine {
	var lines []costLine
	if s.NATInstanceType != "" {
		per := ec2Hourly[s.NATInstanceType]*hoursPerMonth + publicIPv4Hourly*hoursPerMonth + natRootGB*gp3GBMonth
		lines = append(lines, costLine{"NAT (IPv4 only)",
			fmt.Sprintf("%d x %s instance + public IPv4 + %d GB gp3", s.NATs, s.NATInstanceType, natRootGB), float64(s.NATs) * per})
	} else {
		lines = append(lines, costLine{"NAT (IPv4)",
			fmt.Sprintf("%d x NAT gateway + public IPv4", s.NATs), float64(s.NATs) * (natGatewayHourly + publicIPv4Hourly) * hoursPerMonth})
	}
	if s.IPv6Egress {
		lines = append(lines, costLine{"IPv6 egress", "egress-only internet gateway (no hourly charge)", 0})
	}
	lines = append(lines, costLine{"interface endpoints",
		fmt.Sprintf("%d services x %d AZ", interfaceEndpointServices, s.EndpointAZs),
		float64(interfaceEndpointServices*s.EndpointAZs) * interfaceEndpointHourly * hoursPerMonth})
	if s.DBProxy {
		lines = append(lines, costLine{"RDS Proxy", fmt.Sprintf("%d vCPU minimum", proxyMinVCPU), proxyMinVCPU * proxyVCPUHourly * hoursPerMonth})
	} else {
		lines = append(lines, costLine{"RDS Proxy", "none: the functions connect to the instance", 0})
	}

	class := *s.DBInstanceType.ToString()
	copies, az := 1.0, "single-AZ"
	if s.DBMultiAZ {
		copies, az = 2, "Multi-AZ"
	}
	lines = append(lines, costLine{"PostgreSQL",
		fmt.Sprintf("db.%s %s + %.0f GB gp3", class, az, s.DBAllocatedGB),
		copies * (rdsHourly[class]*hoursPerMonth + s.DBAllocatedGB*rdsGP3GBMonth)})
	if s.CacheServerless {
		lines = append(lines, costLine{"Valkey", fmt.Sprintf("serverless, %.0f MB minimum (+ ECPUs used)", valkeyServerlessMinGB*1000),
			valkeyServerlessMinGB * valkeyServerlessGBHour * hoursPerMonth})
	} else {
		lines = append(lines, costLine{"Valkey", fmt.Sprintf("%d x %s", s.CacheNodes, s.CacheNodeType),
			float64(s.CacheNodes) * valkeyHourly[s.CacheNodeType] * hoursPerMonth})
	}
	lines = append(lines, costLine{"secrets, KMS", fmt.Sprintf("%d secrets, %d key", c.Secrets, c.KMSKeys),
		float64(c.Secrets)*secretMonth + float64(c.KMSKeys)*kmsKeyMonth})
	dashboards, free := len(c.DashboardMetrics), c.freeDashboards()
	lines = append(lines, costLine{"alarms, dashboard",
		fmt.Sprintf("%d alarms (%d free), %d dashboard of %s metrics (%d free)", c.Alarms, min(c.Alarms, freeAlarms),
			dashboards, joinInts(c.DashboardMetrics), free),
		float64(max(c.Alarms-freeAlarms, 0))*alarmMonth + float64(dashboards-free)*dashboardMonth})
	return lines
}

func joinInts(ns []int) string {
	var s []string
	for _, n := range ns {
		s = append(s, fmt.Sprint(n))
	}
	return strings.Join(s, ", ")
}

// total sums the lines.
func total(lines []costLine) float64 {
	var t float64
	for _, l := range lines {
		t += l.Monthly
	}
	return t
}

// costTable renders stages' lines side by side as a Markdown table (the
// stages' lines must be in the same order).
func costTable(stages []string, lines [][]costLine) string {
	var b strings.Builder
	b.WriteString("| item |")
	for _, s := range stages {
		b.WriteString(" " + s + " |")
	}
	b.WriteString("\n|---|")
	b.WriteString(strings.Repeat("---|", len(stages)))
	b.WriteString("\n")
	for i := range lines[0] {
		b.WriteString("| " + lines[0][i].Item + " |")
		for _, ls := range lines {
			fmt.Fprintf(&b, " $%.2f (%s) |", ls[i].Monthly, ls[i].Detail)
		}
		b.WriteString("\n")
	}
	b.WriteString("| **total** |")
	for _, ls := range lines {
		fmt.Fprintf(&b, " **$%.2f** |", total(ls))
	}
	b.WriteString("\n")
	return b.String()
}
