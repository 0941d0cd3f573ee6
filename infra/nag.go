package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/personalcrm/core/shared/catalog"
)

// This file records why each cdk-nag AwsSolutions finding that is not fixed
// is accepted. Every suppression sits on the one resource it is about and,
// for IAM findings, names the exact policy or wildcard it accepts.

// secretRotationReasons says, per application secret, why Secrets Manager
// does not rotate it (AwsSolutions-SMG4). The database secret does rotate.
var secretRotationReasons = map[string]string{
	"AUTH_SECRET": "AUTH_SECRET derives sign-in PKCE verifiers: replacing it fails the sign-ins in flight " +
		"(it signs nobody out; ending sessions is POST /v1/user/sessions/revoke-all per user, or deleting " +
		"sessions rows), so operators rotate it deliberately, not on a timer",
	"GOOGLE_CLIENT_SECRET": "The Google OAuth client secret is issued in the Google Cloud console; " +
		"there is no API a rotation function could call, so it is rotated there and pasted in",
	"TOKEN_KEYS": "TOKEN_KEYS is a key ring that decrypts stored provider tokens: rotation prepends a new key " +
		"and keeps the old ones, which a generic rotation function would destroy",
	"OPENAI_API_KEY": "The OpenAI API key is issued in the OpenAI dashboard; " +
		"it is rotated there and pasted in",
}

func suppress(st *Stack, s Settings, net *network, db *database, c *cache, fns []catalog.Function) {
	for _, nat := range net.natInstances {
		nagSuppress(nat, false,
			rule{"AwsSolutions-EC28", "The NAT instance forwards packets and runs nothing else; its CloudWatch " +
				"status-check metrics (basic monitoring) are enough to see it fail, and detailed monitoring would " +
				"cost more than the instance", ""},
			rule{"AwsSolutions-EC29", "The NAT instance holds no data and is replaced by a deploy; CloudFormation owns " +
				"its lifecycle, and termination protection would only block that", ""},
			rule{"AwsSolutions-EC26", "The NAT instance's root volume holds the operating system only: no " +
				"application data or secrets pass through it unencrypted (every connection it forwards is TLS)", ""})
	}

	for v, sec := range st.Secrets {
		nagSuppress(sec, false, rule{"AwsSolutions-SMG4", secretRotationReasons[v], ""})
	}

	if !s.DBMultiAZ {
		nagSuppress(db.instance, false, rule{"AwsSolutions-RDS3",
			"Stage " + s.Stage + " runs one database instance to halve its cost; prod is Multi-AZ", ""})
	}
	if !s.DeletionProtection {
		nagSuppress(db.instance, false, rule{"AwsSolutions-RDS10",
			"Stage " + s.Stage + " is disposable and torn down with its stack; prod has deletion protection", ""})
	}
	// cdk-nag's ElastiCache rules judge replication groups and clusters; a
	// serverless cache is Multi-AZ and signs in through its user group.
	if c.group != nil {
		nagSuppress(c.group, false, rule{"AwsSolutions-AEC6",
			"Clients sign in with ElastiCache IAM authentication instead of an AUTH token: the replication group's " +
				"user group holds one IAM-authenticated user, allowed only the commands and key prefixes shared/cache " +
				"uses, and a default user that is off; each function whose catalog entry uses the cache may " +
				"elasticache:Connect as that user, over TLS", ""})
		if s.CacheNodes < 2 {
			nagSuppress(c.group, false, rule{"AwsSolutions-AEC4",
				"Stage " + s.Stage + " runs one cache node: the cache is optional to every request (a miss reads " +
					"PostgreSQL), so losing it costs latency, not availability; prod has a replica in another AZ", ""})
		}
	}

	for _, fn := range fns {
		if r, ok := st.Routes[fn.Name]; ok {
			nagSuppress(r, false, rule{"AwsSolutions-APIG4", apiAuthReason(fn), ""})
		}
		f := st.Functions[fn.Name]
		role := f.Role().(awsiam.Role)
		nagSuppress(role, false, rule{"AwsSolutions-IAM4",
			"AWSLambdaVPCAccessExecutionRole is what Lambda needs to create and delete the function's " +
				"network interfaces in the VPC; AWS maintains it as Lambda's needs change",
			"Policy::arn:<AWS::Partition>:iam::aws:policy/" + vpcAccessPolicy})
		// The default policy is the role's child.
		nagSuppress(role, true, rule{"AwsSolutions-IAM5",
			"Active X-Ray tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level " +
				"permissions, so their resource is *",
			"Resource::*"})
	}
}

// apiAuthReason says why a route has no API Gateway authorizer
// (AwsSolutions-APIG4).
func apiAuthReason(fn catalog.Function) string {
	route := fn.Method + " " + fn.Path
	switch {
	case fn.Access == catalog.Signed:
		return "Signed route " + route + ": the Bearer token or session cookie is checked by the function (shared/api) " +
			"against the sessions table and answers 401 without a live session; an authorizer would add a second " +
			"Lambda and a database read to every request"
	case fn.Tag == "auth":
		reason := "Sign-in route " + route + ": it runs before any session exists; the OAuth state and PKCE " +
			"verifier bind the flow to the browser that started it"
		if fn.Limit != nil {
			reason += ", and it is rate limited per client IP"
		}
		return reason
	case fn.Tag == "system":
		return "Public by design (" + route + "): uptime probes read the health report and clients the API " +
			"document; neither holds user data"
	}
	return "Public route " + route + ": it authenticates its caller itself (a provider's signed request), " +
		"as API Gateway authorizers cannot verify such signatures"
}

type rule struct {
	id, reason string
	appliesTo  string
}

func nagSuppress(c constructs.IConstruct, children bool, rules ...rule) {
	var sup []*cdknag.NagPackSuppression
	for _, r := range rules {
		n := &cdknag.NagPackSuppression{Id: jsii.String(r.id), Reason: jsii.String(r.reason)}
		if r.appliesTo != "" {
			n.AppliesTo = &[]interface{}{r.appliesTo}
		}
		sup = append(sup, n)
	}
	cdknag.NagSuppressions_AddResourceSuppressions(c, &sup, jsii.Bool(children))
}
