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
}

func newNetwork(scope constructs.Construct, s Settings) *network {
	private := &awsec2.SubnetSelection{SubnetType: awsec2.SubnetType_PRIVATE_WITH_EGRESS}
	vpc := awsec2.NewVpc(scope, jsii.String("Vpc"), &awsec2.VpcProps{
		IpAddresses: awsec2.IpAddresses_Cidr(jsii.String(vpcCIDR)),
		MaxAzs:      jsii.Number(2),
		// The functions call Google and OpenAI, so private subnets need
		// egress. A NAT gateway is ~$33/month each plus $0.045/GB: dev runs
		// one (an AZ outage cuts egress from the other AZ), prod one per AZ.
		NatGateways: jsii.Number(float64(s.NATGateways)),
		SubnetConfiguration: &[]*awsec2.SubnetConfiguration{
			{Name: jsii.String("public"), SubnetType: awsec2.SubnetType_PUBLIC, CidrMask: jsii.Number(24)},
			{Name: jsii.String("private"), SubnetType: awsec2.SubnetType_PRIVATE_WITH_EGRESS, CidrMask: jsii.Number(22)},
		},
		RestrictDefaultSecurityGroup: jsii.Bool(true),
		// S3 gateway endpoint: free, and keeps any S3 traffic off the
		// NAT's per-GB charge.
		GatewayEndpoints: &map[string]*awsec2.GatewayVpcEndpointOptions{
			"S3": {Service: awsec2.GatewayVpcEndpointAwsService_S3()},
		},
	})

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

	// Interface endpoints cost ~$7.30/month per AZ each plus $0.01/GB, against
	// NAT's $0.045/GB: at this system's volume they do not pay for themselves
	// in traffic. They are here because every function reads its secrets at
	// cold start and every producer and consumer talks to SQS: with the
	// endpoints those calls stay inside the VPC and keep working when the NAT
	// (one, in dev) or its AZ fails. Dev puts them in one AZ to halve the bill.
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

	functions := awsec2.NewSecurityGroup(scope, jsii.String("FunctionsSecurityGroup"), &awsec2.SecurityGroupProps{
		Vpc:         vpc,
		Description: jsii.String("Lambda functions: reach the proxy, the cache, VPC endpoints and the internet through NAT"),
		// Google and OpenAI are on the internet at addresses that change.
		AllowAllOutbound: jsii.Bool(true),
	})

	return &network{vpc: vpc, private: private, functions: functions}
}
