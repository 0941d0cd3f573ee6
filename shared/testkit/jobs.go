package testkit

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/queue"
	"github.com/personalcrm/core/shared/queue/sqsqueue"
)

// JobQueues creates, on the SQS emulator, a queue and a dead-letter queue
// for every job type of the catalog, as the infrastructure does: the
// queue's redrive policy moves a message to the dead-letter queue after
// the type's max attempts, and its visibility timeout is the type's (see
// queue.VisibilityTimeout). It returns the queue URLs by job type and a
// backend on them. The queues are deleted when the test ends.
func (e *SQSEmulator) JobQueues(t testing.TB) (map[string]string, *sqsqueue.Backend) {
	t.Helper()
	urls := map[string]string{}
	for _, fn := range catalog.Jobs() {
		dlq := e.Queue(t, fn.Name+"-dlq", nil)
		arn := e.attribute(t, dlq, types.QueueAttributeNameQueueArn)
		urls[fn.Name] = e.Queue(t, fn.Name, map[string]string{
			"VisibilityTimeout": strconv.Itoa(int(queue.VisibilityTimeout(fn) / time.Second)),
			"RedrivePolicy":     fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":"%d"}`, arn, fn.MaxAttempts),
		})
	}
	return urls, sqsqueue.New(urls, sqsqueue.Options{
		Region:      "us-east-1",
		Endpoint:    e.Endpoint,
		Credentials: aws.CredentialsProviderFunc(testCredentials),
	})
}

func (e *SQSEmulator) attribute(t testing.TB, url string, name types.QueueAttributeName) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := e.client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url), AttributeNames: []types.QueueAttributeName{name},
	})
	if err != nil {
		t.Fatalf("queue attribute %s of %s: %v", name, url, err)
	}
	return out.Attributes[string(name)]
}
