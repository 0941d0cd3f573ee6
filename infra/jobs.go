package main

import (
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/personalcrm/core/shared/catalog"
)

// Message retention: a job waits up to four days for its consumer; a dead
// one stays in its DLQ the SQS maximum, for an operator to inspect and redrive.
const (
	queueRetention = 4 * 24 * time.Hour
	dlqRetention   = 14 * 24 * time.Hour
)

// jobQueue is a job type's queue and the dead-letter queue its messages move
// to after the type's max attempts.
type jobQueue struct {
	queue awssqs.Queue
	dlq   awssqs.Queue
}

func newJobQueue(scope constructs.Construct, s Settings, fn catalog.Function) *jobQueue {
	name := "crm-" + s.Stage + "-" + fn.Name
	dlq := awssqs.NewQueue(scope, jsii.String("DeadLetterQueue"), &awssqs.QueueProps{
		QueueName:       jsii.String(name + "-dlq"),
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: seconds(dlqRetention),
		RemovalPolicy:   s.RemovalPolicy,
	})
	queue := awssqs.NewQueue(scope, jsii.String("Queue"), &awssqs.QueueProps{
		QueueName:         jsii.String(name),
		Encryption:        awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:        jsii.Bool(true),
		VisibilityTimeout: seconds(visibilityTimeout(fn)),
		RetentionPeriod:   seconds(queueRetention),
		DeadLetterQueue: &awssqs.DeadLetterQueue{
			Queue:           dlq,
			MaxReceiveCount: jsii.Number(float64(fn.MaxAttempts)),
		},
		RemovalPolicy: s.RemovalPolicy,
	})
	return &jobQueue{queue: queue, dlq: dlq}
}

// consume makes f the consumer of its job queue. A failed message is
// reported alone (ReportBatchItemFailures) so the rest of its batch is not
// delivered again.
func (q *jobQueue) consume(f awslambda.Function, fn catalog.Function) {
	props := &awslambdaeventsources.SqsEventSourceProps{
		BatchSize:               jsii.Number(float64(fn.BatchSize)),
		ReportBatchItemFailures: jsii.Bool(true),
	}
	if w := batchingWindowOf(fn); w > 0 {
		props.MaxBatchingWindow = seconds(w)
	}
	if n := eventSourceMaxConcurrency(fn); n > 0 {
		props.MaxConcurrency = jsii.Number(float64(n))
	}
	// The event source grants the consumer receive, delete and
	// ChangeMessageVisibility (the worker's backoff) on this queue only.
	f.AddEventSource(awslambdaeventsources.NewSqsEventSource(q.queue, props))
}

func seconds(d time.Duration) awscdk.Duration {
	return awscdk.Duration_Seconds(jsii.Number(d.Seconds()))
}
