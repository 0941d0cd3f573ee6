package main

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/jsii-runtime-go"
	"github.com/google/go-cmp/cmp"

	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/google"
)

// TestCustomDomain: without domainName the API keeps its execute-api URL
// and nothing is added; with hostedZoneId a DNS-validated certificate and
// an alias record are created; with certificateArn that certificate is
// used and DNS is left to the operator (an output says where to point
// it). On a domain, TLS 1.2 is the minimum, the execute-api endpoint is
// off, and AUTH_URL, the Google callback and the ApiUrl output use it.
func TestCustomDomain(t *testing.T) {
	t.Run("none", func(t *testing.T) {
		s := synth(t, "real", "dev", realCatalog)
		for _, typ := range []string{"AWS::ApiGatewayV2::DomainName", "AWS::ApiGatewayV2::ApiMapping",
			"AWS::CertificateManager::Certificate", "AWS::Route53::RecordSet"} {
			if ids := s.ofType(typ); len(ids) > 0 {
				t.Errorf("%s without domainName: %v", typ, ids)
			}
		}
		api := s.resources[s.ofType("AWS::ApiGatewayV2::Api")[0]].Properties
		if v, ok := api["DisableExecuteApiEndpoint"]; ok && v != false {
			t.Errorf("execute-api endpoint switched off without a domain: %v", v)
		}
		for _, k := range []string{"ApiDomainTarget", "ApiDomainTargetZone"} {
			if _, ok := s.outputs[k]; ok {
				t.Errorf("output %s without a domain", k)
			}
		}
		if fmt.Sprint(s.outputs["ApiUrl"]) == "" || strings.Contains(fmt.Sprint(s.outputs["ApiUrl"]), "example.com") {
			t.Errorf("ApiUrl %v", s.outputs["ApiUrl"])
		}
		for _, fn := range s.fns {
			if v, ok := s.env(fn.Name)[config.VarAuthURL]; ok {
				ga, _ := v.(map[string]any)["Fn::GetAtt"].([]any)
				if len(ga) != 2 || ga[1] != "ApiEndpoint" {
					t.Errorf("%s: AUTH_URL %v, want the execute-api endpoint", fn.Name, v)
				}
			}
		}
	})

	for _, c := range []struct {
		name, stage string
		zone        bool
	}{{"hosted zone", "prod", true}, {"certificate", "dev+cert", false}} {
		t.Run(c.name, func(t *testing.T) {
			s := synth(t, "real", c.stage, realCatalog)
			if s.settings.DomainName != "api.example.com" {
				t.Fatalf("domain %q", s.settings.DomainName)
			}
			domains := s.ofType("AWS::ApiGatewayV2::DomainName")
			if len(domains) != 1 {
				t.Fatalf("%d domain names, want 1", len(domains))
			}
			dn := domains[0]
			certs := s.ofType("AWS::CertificateManager::Certificate")
			records := s.ofType("AWS::Route53::RecordSet")
			wantCert := any(testCertificateARN)
			if c.zone {
				if len(certs) != 1 || len(records) != 1 {
					t.Fatalf("%d certificates and %d records, want 1 and 1", len(certs), len(records))
				}
				wantCert = map[string]any{"Ref": certs[0]}
				check(t, "certificate", func() {
					s.template.HasResourceProperties(jsii.String("AWS::CertificateManager::Certificate"), map[string]any{
						"DomainName":       "api.example.com",
						"ValidationMethod": "DNS",
						"DomainValidationOptions": []any{map[string]any{
							"DomainName": "api.example.com", "HostedZoneId": testHostedZone,
						}},
					})
				})
				check(t, "alias record", func() {
					s.template.HasResourceProperties(jsii.String("AWS::Route53::RecordSet"), map[string]any{
						"Name": "api.example.com.", "Type": "A", "HostedZoneId": testHostedZone,
						"AliasTarget": map[string]any{
							"DNSName":      map[string]any{"Fn::GetAtt": []any{dn, "RegionalDomainName"}},
							"HostedZoneId": map[string]any{"Fn::GetAtt": []any{dn, "RegionalHostedZoneId"}},
						},
					})
				})
				for _, k := range []string{"ApiDomainTarget", "ApiDomainTargetZone"} {
					if _, ok := s.outputs[k]; ok {
						t.Errorf("output %s, but the alias record is made", k)
					}
				}
			} else {
				if len(certs) != 0 || len(records) != 0 {
					t.Fatalf("%d certificates and %d records with the operator's certificate, want none", len(certs), len(records))
				}
				o, _ := s.outputs["ApiDomainTarget"].(map[string]any)
				if d := cmp.Diff(map[string]any{"Fn::GetAtt": []any{dn, "RegionalDomainName"}}, o["Value"]); d != "" {
					t.Errorf("ApiDomainTarget (-want +got):\n%s", d)
				}
				if _, ok := s.outputs["ApiDomainTargetZone"]; !ok {
					t.Error("no ApiDomainTargetZone output")
				}
			}
			check(t, "domain name", func() {
				s.template.HasResourceProperties(jsii.String("AWS::ApiGatewayV2::DomainName"), map[string]any{
					"DomainName": "api.example.com",
					"DomainNameConfigurations": []any{map[string]any{
						"CertificateArn": wantCert, "EndpointType": "REGIONAL", "SecurityPolicy": "TLS_1_2",
					}},
				})
			})
			apiID := s.ofType("AWS::ApiGatewayV2::Api")[0]
			check(t, "mapping", func() {
				s.template.HasResourceProperties(jsii.String("AWS::ApiGatewayV2::ApiMapping"), map[string]any{
					"ApiId":      map[string]any{"Ref": apiID},
					"DomainName": map[string]any{"Ref": dn},
					"Stage":      "$default",
				})
			})
			mapping := s.resources[s.ofType("AWS::ApiGatewayV2::ApiMapping")[0]]
			if stage := s.ofType("AWS::ApiGatewayV2::Stage")[0]; !slices.Contains(listOf(mapping.DependsOn), any(stage)) {
				t.Errorf("the mapping does not wait for stage %s: %v", stage, mapping.DependsOn)
			}
			if api := s.resources[apiID].Properties; api["DisableExecuteApiEndpoint"] != true {
				t.Errorf("execute-api endpoint still on: %v", api["DisableExecuteApiEndpoint"])
			}
			if o, _ := s.outputs["ApiUrl"].(map[string]any); o["Value"] != "https://api.example.com/" {
				t.Errorf("ApiUrl output %v", o["Value"])
			}
			for _, fn := range s.fns {
				env, secrets := s.lambdaEnv(fn.Name)
				if _, ok := env[config.VarAuthURL]; !ok {
					continue
				}
				cfg, err := config.Load(context.Background(), fn, config.WithEnv(env), config.WithSecrets(secrets))
				if err != nil {
					t.Fatalf("%s: %v", fn.Name, err)
				}
				if got := google.CallbackURL(cfg.AuthURL); got != "https://api.example.com/auth/google/callback" {
					t.Errorf("%s: Google callback %s", fn.Name, got)
				}
				// The push endpoint's URL is set only with the push context.
				if fn.Name == catalog.WebhooksGmail && s.settings.GooglePushServiceAccount != "" &&
					env[config.VarGoogleWebhookURL] != "https://api.example.com"+fn.Path {
					t.Errorf("%s: GOOGLE_WEBHOOK_URL %s", fn.Name, env[config.VarGoogleWebhookURL])
				}
			}
		})
	}
}

// TestCORS: the HTTP API answers CORS for exactly the origins every
// route's origin check accepts for cookie-authenticated writes (what
// config.AllowedOrigins makes of the function's environment), with
// credentials, the methods of the routes, the headers of catalog.CORS
// and never a wildcard; with no origin besides the API's own, no CORS.
func TestCORS(t *testing.T) {
	for _, c := range []struct {
		stage string
		want  []string
	}{
		{"dev", nil},
		{"prod", []string{"https://admin.example.com", "https://app.example.com"}},
		{"dev+cert", []string{"https://admin.example.com", "https://app.example.com", "https://app.example.com:8443"}},
	} {
		t.Run(c.stage, func(t *testing.T) {
			s := synth(t, "real", c.stage, realCatalog)
			api := s.resources[s.ofType("AWS::ApiGatewayV2::Api")[0]].Properties
			cors, _ := api["CorsConfiguration"].(map[string]any)
			if c.want == nil {
				if cors != nil {
					t.Errorf("CORS %v, want none", cors)
				}
			} else {
				var origins []string
				for _, o := range asSlice(cors["AllowOrigins"]) {
					origins = append(origins, fmt.Sprint(o))
				}
				sort.Strings(origins)
				if d := cmp.Diff(c.want, origins); d != "" {
					t.Errorf("AllowOrigins (-want +got):\n%s", d)
				}
				want := map[string]any{
					"AllowOrigins":     cors["AllowOrigins"],
					"AllowCredentials": true,
					"AllowMethods":     anys(catalog.CORSMethods()),
					"AllowHeaders":     anys(catalog.CORS.AllowHeaders),
					"ExposeHeaders":    anys([]string{"Retry-After", "X-Request-Id"}),
					"MaxAge":           float64(600),
				}
				if d := cmp.Diff(want, cors); d != "" {
					t.Errorf("CORS (-want +got):\n%s", d)
				}
				if strings.Contains(fmt.Sprint(cors), "*") {
					t.Errorf("a wildcard in CORS: %v", cors)
				}
			}
			for _, fn := range s.fns {
				if fn.Kind != catalog.Route {
					continue
				}
				env, secrets := s.lambdaEnv(fn.Name)
				cfg, err := config.Load(context.Background(), fn, config.WithEnv(env), config.WithSecrets(secrets))
				if err != nil {
					t.Fatalf("%s: %v", fn.Name, err)
				}
				got := slices.Sorted(slices.Values(cfg.AllowedOrigins()))
				if d := cmp.Diff(c.want, got); d != "" {
					t.Errorf("%s: origins of cookie-authenticated writes (-CORS +function):\n%s", fn.Name, d)
				}
			}
		})
	}
}

func anys(in []string) []any {
	out := make([]any, len(in))
	for i, s := range in {
		out[i] = s
	}
	return out
}

// TestBrowserContext: the context of allowed origins and of the custom
// domain is checked before anything is built, every problem named.
func TestBrowserContext(t *testing.T) {
	s, err := settingsFor(Context{Stage: "dev", AllowedOrigins: " https://App.Example.com:443 ,https://admin.example.com,,https://app.example.com",
		DomainName: "API.example.com.", HostedZoneID: testHostedZone})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"https://app.example.com", "https://admin.example.com"}, s.AllowedOrigins); d != "" {
		t.Errorf("origins (-want +got):\n%s", d)
	}
	if s.DomainName != "api.example.com" || s.HostedZoneID != testHostedZone || s.apiURL() != "https://api.example.com" {
		t.Errorf("domain: %+v", s)
	}
	if s, err := settingsFor(Context{Stage: "dev", DomainName: "api.example.com", CertificateARN: testCertificateARN}); err != nil || s.CertificateARN != testCertificateARN {
		t.Errorf("certificate: %v %+v", err, s)
	}
	if s, err := settingsFor(Context{Stage: "dev"}); err != nil || s.DomainName != "" || s.AllowedOrigins != nil || s.corsOrigins() != nil {
		t.Errorf("none: %v %+v", err, s)
	}

	for _, c := range []struct {
		ctx  Context
		want []string
	}{
		{Context{AllowedOrigins: "*"}, []string{"wildcard is never allowed"}},
		{Context{AllowedOrigins: "https://*.example.com"}, []string{"wildcard"}},
		{Context{AllowedOrigins: "http://app.example.com"}, []string{"must use https"}},
		{Context{AllowedOrigins: "https://app.example.com/"}, []string{"no path"}},
		{Context{AllowedOrigins: "https://app.example.com/app, app.example.com"}, []string{"no path", "must be an origin like"}},
		{Context{AllowedOrigins: "null"}, []string{"must be an origin like"}},
		{Context{DomainName: "api.example.com"}, []string{"exactly one of -c hostedZoneId"}},
		{Context{DomainName: "api.example.com", HostedZoneID: testHostedZone, CertificateARN: testCertificateARN}, []string{"exactly one of"}},
		{Context{HostedZoneID: testHostedZone}, []string{"go with domainName"}},
		{Context{CertificateARN: testCertificateARN}, []string{"go with domainName"}},
		{Context{DomainName: "https://api.example.com", HostedZoneID: testHostedZone}, []string{"must be a host name"}},
		{Context{DomainName: "*.example.com", HostedZoneID: testHostedZone}, []string{"must be a host name"}},
		{Context{DomainName: "api.example.com:8443", HostedZoneID: testHostedZone}, []string{"must be a host name"}},
		{Context{DomainName: "localhost", HostedZoneID: testHostedZone}, []string{"must be a host name"}},
		{Context{DomainName: "api.example.com", HostedZoneID: "example.com"}, []string{"hosted zone id"}},
		{Context{DomainName: "api.example.com", CertificateARN: "arn:aws:iam::123456789012:server-certificate/x"}, []string{"ACM certificate ARN"}},
	} {
		c.ctx.Stage = "dev"
		_, err := settingsFor(c.ctx)
		for _, want := range c.want {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%+v: %v, want %q", c.ctx, err, want)
			}
		}
	}
}
