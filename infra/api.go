package main

import (
	"encoding/json"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscertificatemanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsroute53"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsroute53targets"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/personalcrm/core/shared/catalog"
)

// httpAPI is the HTTP API every route is on.
type httpAPI struct {
	api   awsapigatewayv2.HttpApi
	stage awsapigatewayv2.HttpStage
	// url is the API's public base URL without a trailing slash
	// (AUTH_URL): its custom domain's, else the execute-api endpoint.
	url *string
	// domain is the custom domain, when there is one.
	domain awsapigatewayv2.DomainName
}

// accessLogFormat is one JSON object per request.
var accessLogFormat = func() string {
	b, err := json.Marshal(map[string]string{
		"requestId":          "$context.requestId",
		"ip":                 "$context.identity.sourceIp",
		"userAgent":          "$context.identity.userAgent",
		"requestTime":        "$context.requestTime",
		"method":             "$context.httpMethod",
		"path":               "$context.path",
		"routeKey":           "$context.routeKey",
		"status":             "$context.status",
		"protocol":           "$context.protocol",
		"responseLength":     "$context.responseLength",
		"latencyMs":          "$context.responseLatency",
		"integrationLatency": "$context.integrationLatency",
		"integrationStatus":  "$context.integrationStatus",
		"integrationError":   "$context.integrationErrorMessage",
		"error":              "$context.error.message",
	})
	if err != nil {
		panic(err)
	}
	return string(b)
}()

func newHTTPAPI(scope constructs.Construct, s Settings) *httpAPI {
	api := awsapigatewayv2.NewHttpApi(scope, jsii.String("Api"), &awsapigatewayv2.HttpApiProps{
		ApiName:            jsii.String("crm-" + s.Stage),
		Description:        jsii.String("Personal CRM API"),
		CreateDefaultStage: jsii.Bool(false),
		CorsPreflight:      corsPreflight(s.corsOrigins()),
		// On its own domain the API has one URL: the one its cookies,
		// sign-in callback and origin check are made for.
		DisableExecuteApiEndpoint: jsii.Bool(s.DomainName != ""),
	})
	stage := awsapigatewayv2.NewHttpStage(scope, jsii.String("ApiStage"), &awsapigatewayv2.HttpStageProps{
		HttpApi:    api,
		StageName:  jsii.String("$default"),
		AutoDeploy: jsii.Bool(true),
		// Default route settings: a ceiling for the whole API, above the
		// per-user limits the functions enforce.
		Throttle: &awsapigatewayv2.ThrottleSettings{
			RateLimit:  jsii.Number(s.APIRateLimit),
			BurstLimit: jsii.Number(s.APIBurstLimit),
		},
	})
	logs := awslogs.NewLogGroup(scope, jsii.String("ApiAccessLogs"), &awslogs.LogGroupProps{
		Retention:     s.LogRetention,
		RemovalPolicy: s.RemovalPolicy,
	})
	cfnStage := stage.Node().DefaultChild().(awsapigatewayv2.CfnStage)
	cfnStage.SetAccessLogSettings(&awsapigatewayv2.CfnStage_AccessLogSettingsProperty{
		DestinationArn: logs.LogGroupArn(),
		Format:         jsii.String(accessLogFormat),
	})
	if s.DomainName != "" {
		return &httpAPI{api: api, stage: stage, url: jsii.String(s.apiURL()), domain: newDomain(scope, s, api, stage)}
	}
	return &httpAPI{api: api, stage: stage, url: api.ApiEndpoint()}
}

// corsPreflight is the API's CORS policy for origins (nil, no CORS,
// without any): what catalog.CORS says, with credentials. API Gateway
// answers preflights itself and adds the headers to the functions'
// answers for these origins only; any other origin gets none.
func corsPreflight(origins []string) *awsapigatewayv2.CorsPreflightOptions {
	if len(origins) == 0 {
		return nil
	}
	var methods []awsapigatewayv2.CorsHttpMethod
	for _, m := range catalog.CORSMethods() {
		methods = append(methods, awsapigatewayv2.CorsHttpMethod(m))
	}
	return &awsapigatewayv2.CorsPreflightOptions{
		AllowOrigins:     jsii.Strings(origins...),
		AllowCredentials: jsii.Bool(true),
		AllowMethods:     &methods,
		AllowHeaders:     jsii.Strings(catalog.CORS.AllowHeaders...),
		ExposeHeaders:    jsii.Strings(catalog.CORS.ExposeHeaders...),
		MaxAge:           awscdk.Duration_Seconds(jsii.Number(catalog.CORS.MaxAge.Seconds())),
	}
}

// newDomain puts the API's stage on its custom domain: a regional API
// Gateway domain name with TLS 1.2 at least, on a DNS-validated
// certificate and an alias record in the hosted zone, or on the
// operator's certificate (who then points DNS at the ApiDomainTarget
// output).
func newDomain(scope constructs.Construct, s Settings, api awsapigatewayv2.HttpApi, stage awsapigatewayv2.HttpStage) awsapigatewayv2.DomainName {
	var cert awscertificatemanager.ICertificate
	var zone awsroute53.IHostedZone
	if s.HostedZoneID != "" {
		zone = awsroute53.HostedZone_FromHostedZoneId(scope, jsii.String("ApiZone"), jsii.String(s.HostedZoneID))
		cert = awscertificatemanager.NewCertificate(scope, jsii.String("ApiCertificate"), &awscertificatemanager.CertificateProps{
			DomainName: jsii.String(s.DomainName),
			Validation: awscertificatemanager.CertificateValidation_FromDns(zone),
		})
	} else {
		cert = awscertificatemanager.Certificate_FromCertificateArn(scope, jsii.String("ApiCertificate"), jsii.String(s.CertificateARN))
	}
	domain := awsapigatewayv2.NewDomainName(scope, jsii.String("ApiDomain"), &awsapigatewayv2.DomainNameProps{
		DomainName:     jsii.String(s.DomainName),
		Certificate:    cert,
		EndpointType:   awsapigatewayv2.EndpointType_REGIONAL,
		SecurityPolicy: awsapigatewayv2.SecurityPolicy_TLS_1_2,
	})
	awsapigatewayv2.NewApiMapping(scope, jsii.String("ApiMapping"), &awsapigatewayv2.ApiMappingProps{
		Api:        api,
		DomainName: domain,
		Stage:      stage,
	})
	if zone != nil {
		// A fully qualified name (trailing dot): the zone is known by id
		// only, and may be the domain's parent or the domain itself.
		awsroute53.NewARecord(scope, jsii.String("ApiAlias"), &awsroute53.ARecordProps{
			Zone:       zone,
			RecordName: jsii.String(s.DomainName + "."),
			Target: awsroute53.RecordTarget_FromAlias(awsroute53targets.NewApiGatewayv2DomainProperties(
				domain.RegionalDomainName(), domain.RegionalHostedZoneId())),
		})
	}
	return domain
}

// addRoute puts one catalog route on the API. Path parameters in braces
// ("/v1/contacts/{id}") are API Gateway's own syntax.
func (a *httpAPI) addRoute(scope constructs.Construct, fn catalog.Function, f awslambda.Function) awsapigatewayv2.HttpRoute {
	integration := awsapigatewayv2integrations.NewHttpLambdaIntegration(jsii.String("Integration"), f,
		&awsapigatewayv2integrations.HttpLambdaIntegrationProps{
			PayloadFormatVersion: awsapigatewayv2.PayloadFormatVersion_VERSION_2_0(),
		})
	return awsapigatewayv2.NewHttpRoute(scope, jsii.String("Route"), &awsapigatewayv2.HttpRouteProps{
		HttpApi:     a.api,
		RouteKey:    awsapigatewayv2.HttpRouteKey_With(jsii.String(fn.Path), awsapigatewayv2.HttpMethod(fn.Method)),
		Integration: integration,
	})
}
