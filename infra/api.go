package main

import (
	"encoding/json"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/personalcrm/core/shared/catalog"
)

// httpAPI is the HTTP API every route is on.
type httpAPI struct {
	api   awsapigatewayv2.HttpApi
	stage awsapigatewayv2.HttpStage
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
	return &httpAPI{api: api, stage: stage}
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
