package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
)

// TestStageIdleSettings pins what each stage runs all the time: the
// settings behind the idle cost table in README.md.
func TestStageIdleSettings(t *testing.T) {
	for _, c := range []struct {
		stage         string
		nats          int
		endpointAZs   int
		dbClass       string
		multiAZ       bool
		cacheNodeType string
		cacheNodes    int
		serverless    bool
	}{
		{"dev", 1, 0, "t4g.micro", false, "", 0, true},
		{"prod", 2, 0, "t4g.small", true, "cache.t4g.micro", 2, false},
	} {
		s, err := stageSettings(c.stage)
		if err != nil {
			t.Fatal(err)
		}
		if !s.IPv6Egress || s.NATs != c.nats || s.NATInstanceType != "t4g.nano" || s.EndpointAZs != c.endpointAZs ||
			*s.DBInstanceType.ToString() != c.dbClass || s.DBMultiAZ != c.multiAZ ||
			s.CacheNodeType != c.cacheNodeType || s.CacheNodes != c.cacheNodes || s.CacheServerless != c.serverless {
			t.Errorf("%s: %+v", c.stage, s)
		}
	}
}

// TestStageNetwork: no stage pays for a NAT gateway or an interface
// endpoint; IPv6 leaves through an egress-only internet gateway, IPv4
// through NAT instances (one in dev, one per AZ in prod) that take
// nothing from the internet, and every function may send IPv6.
func TestStageNetwork(t *testing.T) {
	for _, c := range []struct {
		stage string
		nats  int
	}{{"dev", 1}, {"prod", 2}} {
		t.Run(c.stage, func(t *testing.T) {
			s := synth(t, "real", c.stage, realCatalog)
			tpl := s.template
			check(t, "no NAT gateway", func() { tpl.ResourceCountIs(jsii.String("AWS::EC2::NatGateway"), jsii.Number(0)) })
			check(t, "no interface endpoint", func() {
				tpl.ResourcePropertiesCountIs(jsii.String("AWS::EC2::VPCEndpoint"),
					&map[string]any{"VpcEndpointType": "Interface"}, jsii.Number(0))
			})
			check(t, "S3 gateway endpoint", func() {
				tpl.ResourcePropertiesCountIs(jsii.String("AWS::EC2::VPCEndpoint"),
					&map[string]any{"VpcEndpointType": "Gateway"}, jsii.Number(1))
			})
			check(t, "NAT instances", func() {
				tpl.ResourcePropertiesCountIs(jsii.String("AWS::EC2::Instance"), &map[string]any{
					"InstanceType":        "t4g.nano",
					"SourceDestCheck":     false,
					"CreditSpecification": map[string]any{"CPUCredits": "standard"},
					// Dual-stack public subnets map no public IPv4 on launch.
					"NetworkInterfaces": []any{map[string]any{"AssociatePublicIpAddress": true, "DeviceIndex": "0",
						"GroupSet": assertions.Match_AnyValue(), "SubnetId": assertions.Match_AnyValue()}},
					"LaunchTemplate": assertions.Match_AnyValue(),
				}, jsii.Number(float64(c.nats)))
			})
			check(t, "IMDSv2 only", func() {
				tpl.ResourcePropertiesCountIs(jsii.String("AWS::EC2::LaunchTemplate"), &map[string]any{
					"LaunchTemplateData": map[string]any{"MetadataOptions": map[string]any{"HttpTokens": "required"}},
				}, jsii.Number(1))
			})
			check(t, "IPv6 CIDR", func() { tpl.ResourceCountIs(jsii.String("AWS::EC2::VPCCidrBlock"), jsii.Number(1)) })
			check(t, "egress-only gateway", func() {
				tpl.ResourceCountIs(jsii.String("AWS::EC2::EgressOnlyInternetGateway"), jsii.Number(1))
			})
			// Both private subnets send ::/0 to it.
			check(t, "IPv6 default routes", func() {
				tpl.ResourcePropertiesCountIs(jsii.String("AWS::EC2::Route"), &map[string]any{
					"DestinationIpv6CidrBlock":    "::/0",
					"EgressOnlyInternetGatewayId": assertions.Match_AnyValue(),
				}, jsii.Number(2))
			})
			// Nothing from the internet reaches a NAT instance: its group
			// admits the VPC's range only.
			for _, id := range s.ofType("AWS::EC2::SecurityGroup") {
				for _, rule := range listOf(s.resources[id].Properties["SecurityGroupIngress"]) {
					r := rule.(map[string]any)
					if r["CidrIp"] == "0.0.0.0/0" || r["CidrIpv6"] == "::/0" {
						t.Errorf("security group %s admits the internet: %v", id, r)
					}
				}
			}
			for _, name := range sortedKeys(s.stack.Functions) {
				id, fn := s.fn(name)
				vpc, _ := fn.Properties["VpcConfig"].(map[string]any)
				if vpc["Ipv6AllowedForDualStack"] != true {
					t.Errorf("%s (%s): Ipv6AllowedForDualStack = %v", name, id, vpc["Ipv6AllowedForDualStack"])
				}
			}
			var egress []any
			for _, id := range s.ofType("AWS::EC2::SecurityGroup") {
				if d, _ := s.resources[id].Properties["GroupDescription"].(string); strings.HasPrefix(d, "Lambda functions") {
					egress = listOf(s.resources[id].Properties["SecurityGroupEgress"])
				}
			}
			var v4, v6 bool
			for _, e := range egress {
				r := e.(map[string]any)
				v4 = v4 || r["CidrIp"] == "0.0.0.0/0"
				v6 = v6 || r["CidrIpv6"] == "::/0"
			}
			if !v4 || !v6 {
				t.Errorf("functions' security group egress %v: want IPv4 and IPv6 out", egress)
			}
		})
	}
}

// TestStageDatabaseAndCache: an always-on PostgreSQL instance in both
// stages, Multi-AZ and behind RDS Proxy (IAM auth, TLS) in prod; Valkey
// nodes in prod, ElastiCache Serverless for Valkey in dev (in the private
// subnets, behind a security group that admits the functions' only, with
// the IAM-enabled user group and usage limits).
func TestStageDatabaseAndCache(t *testing.T) {
	for _, c := range []struct {
		stage, class   string
		multiAZ, proxy bool
		cacheNodes     int
	}{{"dev", "db.t4g.micro", false, false, 0}, {"prod", "db.t4g.small", true, true, 2}} {
		t.Run(c.stage, func(t *testing.T) {
			s := synth(t, "real", c.stage, realCatalog)
			tpl := s.template
			check(t, "instance", func() {
				tpl.ResourceCountIs(jsii.String("AWS::RDS::DBInstance"), jsii.Number(1))
				tpl.HasResourceProperties(jsii.String("AWS::RDS::DBInstance"), &map[string]any{
					"DBInstanceClass":                 c.class,
					"MultiAZ":                         c.multiAZ,
					"EnableIAMDatabaseAuthentication": true,
					"StorageEncrypted":                true,
					"PubliclyAccessible":              false,
				})
			})
			check(t, "no Aurora", func() { tpl.ResourceCountIs(jsii.String("AWS::RDS::DBCluster"), jsii.Number(0)) })
			if c.proxy {
				check(t, "proxy", func() {
					tpl.HasResourceProperties(jsii.String("AWS::RDS::DBProxy"), &map[string]any{
						"RequireTLS": true,
					})
				})
			} else {
				check(t, "no proxy", func() { tpl.ResourceCountIs(jsii.String("AWS::RDS::DBProxy"), jsii.Number(0)) })
			}
			if c.cacheNodes == 0 {
				testServerlessCache(t, s)
				return
			}
			check(t, "cache nodes", func() {
				tpl.ResourceCountIs(jsii.String("AWS::ElastiCache::ServerlessCache"), jsii.Number(0))
				tpl.HasResourceProperties(jsii.String("AWS::ElastiCache::ReplicationGroup"), &map[string]any{
					"Engine":                   "valkey",
					"CacheNodeType":            "cache.t4g.micro",
					"NumCacheClusters":         c.cacheNodes,
					"TransitEncryptionEnabled": true,
				})
			})
		})
	}
}

func testServerlessCache(t *testing.T, s *synthesized) {
	if n := len(s.ofType("AWS::ElastiCache::ReplicationGroup")); n != 0 {
		t.Errorf("%d replication groups beside the serverless cache", n)
	}
	id := s.cacheID()
	p := s.resources[id].Properties
	if p["Engine"] != "valkey" || p["MajorEngineVersion"] != "8" || p["ServerlessCacheName"] != "crm-"+s.settings.Stage {
		t.Errorf("serverless cache %v", p)
	}
	groups := s.ofType("AWS::ElastiCache::UserGroup")
	if len(groups) != 1 || firstRef(p["UserGroupId"]) != groups[0] {
		t.Errorf("user group %v, want %v", p["UserGroupId"], groups)
	}
	limits, _ := p["CacheUsageLimits"].(map[string]any)
	if fmt.Sprint(limits) != fmt.Sprintf("map[DataStorage:map[Maximum:%d Unit:GB] ECPUPerSecond:map[Maximum:%d]]", serverlessMaxDataGB, serverlessMaxECPUPerSec) {
		t.Errorf("usage limits %v", limits)
	}

	// The private subnets, one per AZ.
	private := map[string]bool{}
	for _, sid := range s.ofType("AWS::EC2::Subnet") {
		if strings.Contains(sid, "private") {
			private[sid] = true
		}
	}
	subnets := listOf(p["SubnetIds"])
	if len(subnets) != len(private) || len(subnets) < 2 {
		t.Errorf("subnets %v, want the private ones %v", subnets, private)
	}
	for _, sn := range subnets {
		if !private[firstRef(sn)] {
			t.Errorf("subnet %v is not private", sn)
		}
	}

	// Its security group admits the functions' on the Valkey port, and
	// nothing else.
	sgs := listOf(p["SecurityGroupIds"])
	if len(sgs) != 1 {
		t.Fatalf("security groups %v", sgs)
	}
	sg := firstRef(sgs[0])
	var functions string
	for _, gid := range s.ofType("AWS::EC2::SecurityGroup") {
		if d, _ := s.resources[gid].Properties["GroupDescription"].(string); strings.HasPrefix(d, "Lambda functions") {
			functions = gid
		}
	}
	var ingress []any
	ingress = append(ingress, listOf(s.resources[sg].Properties["SecurityGroupIngress"])...)
	for _, iid := range s.ofType("AWS::EC2::SecurityGroupIngress") {
		if r := s.resources[iid].Properties; firstRef(r["GroupId"]) == sg {
			ingress = append(ingress, r)
		}
	}
	if len(ingress) != 1 {
		t.Fatalf("cache ingress %v, want one rule", ingress)
	}
	r := ingress[0].(map[string]any)
	if firstRef(r["SourceSecurityGroupId"]) != functions || num(r["FromPort"]) != cachePort || num(r["ToPort"]) != cachePort {
		t.Errorf("cache ingress %v, want the functions' (%s) on %d", r, functions, cachePort)
	}
}
