package main

import (
	"fmt"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/personalcrm/core/shared/catalog"
)

// alarmPeriod is the window every alarm judges; SQS publishes its metrics
// every five minutes, so nothing finer is useful there.
const alarmPeriod = 5 * time.Minute

// operations is the alarm topic and the dashboard's content.
type operations struct {
	settings Settings
	// topic and action are nil in a stage without an alarm topic
	// (Settings.alarmTopic).
	topic  awssns.Topic
	action awscloudwatchactions.SnsAction

	functionErrors   []awscloudwatch.IMetric
	functionDuration []awscloudwatch.IMetric
	queueDepth       []awscloudwatch.IMetric
	deadLetters      []awscloudwatch.IMetric
	oldestMessage    []awscloudwatch.IMetric
}

func newOperations(scope constructs.Construct, s Settings) *operations {
	if !s.alarmTopic() {
		// Alarms still change state, and show it in the console.
		return &operations{settings: s}
	}
	stack := awscdk.Stack_Of(scope)
	// CloudWatch cannot publish to a topic encrypted with the AWS-managed
	// SNS key, so the topic has its own key that CloudWatch may use.
	key := awskms.NewKey(scope, jsii.String("AlarmTopicKey"), &awskms.KeyProps{
		Description:       jsii.String("Encrypts the alarm notifications of crm-" + s.Stage),
		EnableKeyRotation: jsii.Bool(true),
		RemovalPolicy:     s.RemovalPolicy,
	})
	key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey*"),
		Resources:  jsii.Strings("*"),
		Conditions: &map[string]interface{}{
			"StringEquals": map[string]interface{}{"aws:SourceAccount": stack.Account()},
		},
	}), nil)
	topic := awssns.NewTopic(scope, jsii.String("Alarms"), &awssns.TopicProps{
		TopicName:   jsii.String("crm-" + s.Stage + "-alarms"),
		DisplayName: jsii.String("CRM " + s.Stage + " alarms"),
		MasterKey:   key,
		EnforceSSL:  jsii.Bool(true),
	})
	// The topic policy that enforces TLS replaces SNS's default one, so
	// CloudWatch's right to publish is stated.
	topic.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("sns:Publish"),
		Resources:  jsii.Strings(*topic.TopicArn()),
		Conditions: &map[string]interface{}{
			"StringEquals": map[string]interface{}{"aws:SourceAccount": stack.Account()},
		},
	}))
	if s.AlarmEmail != "" {
		topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(s.AlarmEmail), nil))
	}
	return &operations{settings: s, topic: topic, action: awscloudwatchactions.NewSnsAction(topic)}
}

// alarm raises when the metric crosses the threshold in one period, and
// tells the topic again when it recovers. No data is not an incident.
func (o *operations) alarm(scope constructs.Construct, id, name, description string, m awscloudwatch.IMetric,
	op awscloudwatch.ComparisonOperator, threshold float64) awscloudwatch.Alarm {
	a := awscloudwatch.NewAlarm(scope, jsii.String(id), &awscloudwatch.AlarmProps{
		AlarmName:          jsii.String("crm-" + o.settings.Stage + "-" + name),
		AlarmDescription:   jsii.String(description),
		Metric:             m,
		ComparisonOperator: op,
		Threshold:          jsii.Number(threshold),
		EvaluationPeriods:  jsii.Number(1),
		TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
	if o.action != nil {
		a.AddAlarmAction(o.action)
		a.AddOkAction(o.action)
	}
	return a
}

// metricOpts labels metrics for the dashboard; an alarm's metric has no
// label, which keeps it a plain metric alarm.
func metricOpts(label, statistic string) *awscloudwatch.MetricOptions {
	return &awscloudwatch.MetricOptions{
		Label:     optional(label),
		Statistic: jsii.String(statistic),
		Period:    seconds(alarmPeriod),
	}
}

// watchFunction alarms on a function's errors and throttles, with full
// monitoring.
func (o *operations) watchFunction(scope constructs.Construct, fn catalog.Function, f awslambda.Function) {
	o.functionErrors = append(o.functionErrors, f.MetricErrors(metricOpts(fn.Name, "Sum")))
	o.functionDuration = append(o.functionDuration, f.MetricDuration(metricOpts(fn.Name, "p99")))
	if !o.settings.FullMonitoring {
		return
	}
	o.alarm(scope, "ErrorsAlarm", fn.Name+"-errors",
		fmt.Sprintf("%s: invocations failed (unhandled error or timeout)", fn.Name),
		f.MetricErrors(metricOpts("", "Sum")),
		awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD, 1)
	o.alarm(scope, "ThrottlesAlarm", fn.Name+"-throttles",
		fmt.Sprintf("%s: invocations throttled (reserved or account concurrency exhausted)", fn.Name),
		f.MetricThrottles(metricOpts("", "Sum")),
		awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD, 1)
}

// watchQueue alarms on dead jobs, and with full monitoring on jobs
// waiting too long.
func (o *operations) watchQueue(scope constructs.Construct, fn catalog.Function, q *jobQueue) {
	o.alarm(scope, "DeadLettersAlarm", fn.Name+"-dead-letters",
		fmt.Sprintf("%s: jobs failed %d times and are in the dead-letter queue", fn.Name, fn.MaxAttempts),
		q.dlq.MetricApproximateNumberOfMessagesVisible(metricOpts("", "Maximum")),
		awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD, 0)

	if o.settings.FullMonitoring {
		limit := max(o.settings.OldestMessageAlarm, visibilityTimeout(fn))
		o.alarm(scope, "OldestMessageAlarm", fn.Name+"-oldest-message",
			fmt.Sprintf("%s: a job has waited more than %s", fn.Name, limit),
			q.queue.MetricApproximateAgeOfOldestMessage(metricOpts("", "Maximum")),
			awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD, limit.Seconds())
	}

	o.queueDepth = append(o.queueDepth, q.queue.MetricApproximateNumberOfMessagesVisible(metricOpts(fn.Name, "Maximum")))
	o.deadLetters = append(o.deadLetters, q.dlq.MetricApproximateNumberOfMessagesVisible(metricOpts(fn.Name, "Maximum")))
	o.oldestMessage = append(o.oldestMessage, q.queue.MetricApproximateAgeOfOldestMessage(metricOpts(fn.Name, "Maximum")))
}

// watchAPI alarms on server errors of the API.
func (o *operations) watchAPI(scope constructs.Construct, a *httpAPI) {
	o.alarm(scope, "Api5xxAlarm", "api-5xx",
		"API: responses with status 5xx (function errors, timeouts, dependencies down)",
		a.api.MetricServerError(metricOpts("", "Sum")),
		awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD, 1)
}

// dashboard draws the API, the functions (with full monitoring) and the
// queues on one page.
func (o *operations) dashboard(scope constructs.Construct, a *httpAPI) {
	d := awscloudwatch.NewDashboard(scope, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{
		DashboardName: jsii.String("crm-" + o.settings.Stage),
	})
	d.AddWidgets(
		graph("API latency (ms)", a.api.MetricLatency(metricOpts("p50", "p50")), a.api.MetricLatency(metricOpts("p99", "p99"))),
		graph("API responses", a.api.MetricCount(metricOpts("requests", "Sum")),
			a.api.MetricClientError(metricOpts("4xx", "Sum")), a.api.MetricServerError(metricOpts("5xx", "Sum"))),
	)
	if o.settings.FullMonitoring {
		o.addGraphs(d, "Function errors", o.functionErrors)
		o.addGraphs(d, "Function duration p99 (ms)", o.functionDuration)
	}
	o.addGraphs(d, "Queue depth", o.queueDepth)
	o.addGraphs(d, "Dead-letter queue depth", o.deadLetters)
	o.addGraphs(d, "Oldest message age (s)", o.oldestMessage)
}

// metricsPerGraph stays well under CloudWatch's 100 metrics per widget and
// keeps a legend readable.
const metricsPerGraph = 25

func (o *operations) addGraphs(d awscloudwatch.Dashboard, title string, metrics []awscloudwatch.IMetric) {
	var row []awscloudwatch.IWidget
	for i := 0; i < len(metrics); i += metricsPerGraph {
		part := metrics[i:min(i+metricsPerGraph, len(metrics))]
		t := title
		if len(metrics) > metricsPerGraph {
			t = fmt.Sprintf("%s (%d/%d)", title, i/metricsPerGraph+1, (len(metrics)+metricsPerGraph-1)/metricsPerGraph)
		}
		row = append(row, graph(t, part...))
	}
	if len(row) > 0 {
		d.AddWidgets(row...)
	}
}

func graph(title string, metrics ...awscloudwatch.IMetric) awscloudwatch.GraphWidget {
	return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
		Title:  jsii.String(title),
		Left:   &metrics,
		Width:  jsii.Number(12),
		Height: jsii.Number(6),
	})
}
