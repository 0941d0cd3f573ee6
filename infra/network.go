package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// vpcCIDR is the VPC's address range.
const vpcCIDR = "10.40.0.0/16"

// network is the VPC the functions, database, proxy and cache live in.
type network struct {
	vpc awsec2.Vpc
	// private is where everything runs: no public IPs, egress through NAT.
	private *awsec2.SubnetSelection
	// functions is the one security group of every function; the proxy and
	// the cache admit it and nothing else.
	functions awsec2.SecurityGroup
	// natInstances are the EC2 NAT instances, when the stage uses them.
	natInstances []awsec2.Instance
}

func newNetwork(scope constructs.Construct, s Settings) *network {
	private := &awsec2.SubnetSelection{SubnetType: awsec2.SubnetType_PRIVATE_WITH_EGRESS}
	protocol := awsec2.IpProtocol_IPV4_ONLY
	if s.IPv6Egress {
		protocol = awsec2.IpProtocol_DUAL_STACK
	}
	nat := natProvider(s)
	vpc := awsec2.NewVpc(scope, jsii.String("Vpc"), &awsec2.VpcProps{
		IpAddresses: awsec2.IpAddresses_Cidr(jsii.String(vpcCIDR)),
		// Dual stack: an Amazon-provided /56, a /64 per subnet, and for the
		// private subnets a route of ::/0 to an egress-only internet
		// gateway, which lets connections out and none in.
		IpProtocol: protocol,
		MaxAzs:     jsii.Number(2),
		// IPv4 to the internet (what has no IPv6 address) leaves through
		// NAT: instances or gateways, as many as the stage says.
		NatGateways:        jsii.Number(float64(s.NATs)),
		NatGatewayProvider: nat,
		SubnetConfiguration: &[]*awsec2.SubnetConfiguration{
			{Name: jsii.String("public"), SubnetType: awsec2.SubnetType_PUBLIC, CidrMask: jsii.Number(24)},
			{Name: jsii.String("private"), SubnetType: awsec2.SubnetType_PRIVATE_WITH_EGRESS, CidrMask: jsii.Number(22)},
		},
		RestrictDefaultSecurityGroup: jsii.Bool(true),
		// S3 gateway endpoint: free, and keeps any S3 traffic off the
		// NAT.
		GatewayEndpoints: &map[string]*awsec2.GatewayVpcEndpointOptions{
			"S3": {Service: awsec2.GatewayVpcEndpointAwsService_S3()},
		},
	})
	var natInstances []awsec2.Instance
	if ni, ok := nat.(awsec2.NatInstanceProviderV2); ok {
		natInstances = *ni.GatewayInstances()
		// Instance metadata only with a session token (IMDSv2): a launch
		// template that says so, which the NAT provider does not make.
		imds := awsec2.NewLaunchTemplate(scope, jsii.String("NatLaunchTemplate"), &awsec2.LaunchTemplateProps{
			RequireImdsv2: jsii.Bool(true),
		})
		for _, inst := range natInstances {
			inst.Node().DefaultChild().(awsec2.CfnInstance).SetLaunchTemplate(&awsec2.CfnInstance_LaunchTemplateSpecificationProperty{
				LaunchTemplateId: imds.LaunchTemplateId(),
				Version:          imds.VersionNumber(),
			})
		}
		// The NAT instances forward what the private subnets send and
		// accept nothing from the internet (their security group allows
		// outbound only by default here).
		ni.SecurityGroup().AddIngressRule(awsec2.Peer_Ipv4(jsii.String(vpcCIDR)), awsec2.Port_AllTraffic(),
			jsii.String("Traffic to NAT from the VPC"), nil)
	}

	// Rejected traffic only: enough to debug a security group, at a fraction
	// of the ingestion cost of logging every accepted flow.
	flowLogs := awslogs.NewLogGroup(scope, jsii.String("FlowLogs"), &awslogs.LogGroupProps{
		Retention:     s.FlowLogRetention,
		RemovalPolicy: s.RemovalPolicy,
	})
	vpc.AddFlowLog(jsii.String("Rejected"), &awsec2.FlowLogOptions{
		Destination: awsec2.FlowLogDestination_ToCloudWatchLogs(flowLogs, nil),
		TrafficType: awsec2.FlowLogTrafficType_REJECT,
	})

	functions := awsec2.NewSecurityGroup(scope, jsii.String("FunctionsSecurityGroup"), &awsec2.SecurityGroupProps{
		Vpc:         vpc,
		Description: jsii.String("Lambda functions: reach the proxy, the cache and the internet (IPv6 egress, NAT)"),
		// Google and OpenAI are on the internet at addresses that change.
		AllowAllOutbound:     jsii.Bool(true),
		AllowAllIpv6Outbound: jsii.Bool(s.IPv6Egress),
	})
	net := &network{vpc: vpc, private: private, functions: functions, natInstances: natInstances}
	if s.EndpointAZs > 0 {
		addInterfaceEndpoints(scope, vpc, s)
	}
	return net
}

// addInterfaceEndpoints puts SQS and Secrets Manager inside the VPC.
// Interface endpoints cost ~$7.30/month per AZ each plus $0.01/GB: at this
// system's volume they never pay for themselves in traffic. They keep the
// calls every function makes (secrets at cold start, SQS) working when the
// VPC has no other way out; with IPv6 egress the regional endpoints,
// which are dual-stack, are reached through the egress-only gateway.
func addInterfaceEndpoints(scope constructs.Construct, vpc awsec2.Vpc, s Settings) {
	endpointSubnets := &awsec2.SubnetSelection{
		SubnetType: awsec2.SubnetType_PRIVATE_WITH_EGRESS,
		OnePerAz:   jsii.Bool(true),
	}
	// HTTPS from anywhere in the VPC: the functions, the proxy (which reads
	// the database secret) and the rotation function all call Secrets Manager.
	endpointSG := awsec2.NewSecurityGroup(scope, jsii.String("EndpointsSecurityGroup"), &awsec2.SecurityGroupProps{
		Vpc:              vpc,
		Description:      jsii.String("Interface VPC endpoints: HTTPS from inside the VPC"),
		AllowAllOutbound: jsii.Bool(false),
	})
	endpointSG.AddIngressRule(awsec2.Peer_Ipv4(jsii.String(vpcCIDR)), awsec2.Port_Tcp(jsii.Number(443)),
		jsii.String("HTTPS from the VPC"), nil)
	if s.EndpointAZs < 2 {
		endpointSubnets.AvailabilityZones = &[]*string{(*vpc.AvailabilityZones())[0]}
	}
	for _, e := range []struct {
		id  string
		svc awsec2.InterfaceVpcEndpointAwsService
	}{
		// SQS: job producers (API routes, the outbox relay) and consumers.
		{"SqsEndpoint", awsec2.InterfaceVpcEndpointAwsService_SQS()},
		// Secrets Manager: each function resolves its secret ARNs at init;
		// the database secret's rotation function uses it too.
		{"SecretsManagerEndpoint", awsec2.InterfaceVpcEndpointAwsService_SECRETS_MANAGER()},
	} {
		vpc.AddInterfaceEndpoint(jsii.String(e.id), &awsec2.InterfaceVpcEndpointOptions{
			Service:           e.svc,
			Subnets:           endpointSubnets,
			PrivateDnsEnabled: jsii.Bool(true),
			SecurityGroups:    &[]awsec2.ISecurityGroup{endpointSG},
			Open:              jsii.Bool(false),
		})
	}
}

// natProvider is the stage's IPv4 NAT: EC2 instances (Amazon Linux 2023,
// arm64, standard CPU credits so the bill cannot grow with load) or NAT
// gateways.
func natProvider(s Settings) awsec2.NatProvider {
	if s.NATInstanceType == "" {
		return awsec2.NatProvider_Gateway(nil)
	}
	return awsec2.NatProvider_InstanceV2(&awsec2.NatInstanceProps{
		InstanceType: awsec2.NewInstanceType(jsii.String(s.NATInstanceType)),
		MachineImage: awsec2.MachineImage_LatestAmazonLinux2023(&awsec2.AmazonLinux2023ImageSsmParameterProps{
			CpuType: awsec2.AmazonLinuxCpuType_ARM_64,
		}),
		CreditSpecification:   awsec2.CpuCredits_STANDARD,
		DefaultAllowedTraffic: awsec2.NatTrafficDirection_OUTBOUND_ONLY,
		// Dual-stack public subnets do not map public IPv4 addresses on
		// launch; the instance needs one to translate to.
		AssociatePublicIpAddress: jsii.Bool(true),
	})
}
