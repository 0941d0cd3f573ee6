package testkit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

func TestSQSStartsOnce(t *testing.T) {
	start := time.Now()
	e := SQS(t)
	t.Logf("emulator at %s, ready after %v (zero if another test started it)", e.Endpoint, time.Since(start))
	if again := SQS(t); again != e {
		t.Errorf("second SQS call returned another emulator: %s and %s", e.Endpoint, again.Endpoint)
	}
}

func TestSQSQueueDeletedAtCleanup(t *testing.T) {
	t.Parallel()
	e := SQS(t)
	var url string
	t.Run("use", func(t *testing.T) {
		url = e.Queue(t, "cleanup", nil)
		if !strings.Contains(url, "/cleanup-") {
			t.Errorf("queue URL %s does not carry the name", url)
		}
	})
	_, err := e.Client().GetQueueAttributes(t.Context(), &sqs.GetQueueAttributesInput{QueueUrl: &url})
	if !errors.As(err, new(*types.QueueDoesNotExist)) {
		t.Errorf("queue after cleanup: err = %v, want QueueDoesNotExist", err)
	}
}

func TestSQSQueueNamesAreUnique(t *testing.T) {
	t.Parallel()
	e := SQS(t)
	a, b := e.Queue(t, "same", nil), e.Queue(t, "same", nil)
	if a == b {
		t.Errorf("two queues share the URL %s", a)
	}
	long := e.Queue(t, strings.Repeat("n", 100), nil)
	if name := long[strings.LastIndexByte(long, '/')+1:]; len(name) != 80 {
		t.Errorf("long name cut to %d characters, want 80: %s", len(name), name)
	}
	fifo := e.Queue(t, "ordered.fifo", nil)
	if !strings.HasSuffix(fifo, ".fifo") || attribute(t, e.Client(), fifo, types.QueueAttributeNameFifoQueue) != "true" {
		t.Errorf("queue %s is not a FIFO queue", fifo)
	}
}

// TestSQSFeatures checks the SQS behaviour the job queue depends on against
// the emulator.
func TestSQSFeatures(t *testing.T) {
	t.Parallel()
	e := SQS(t)
	c := e.Client()

	t.Run("send receive delete", func(t *testing.T) {
		t.Parallel()
		q := e.Queue(t, "basic", nil)
		sent, err := c.SendMessage(t.Context(), &sqs.SendMessageInput{
			QueueUrl:    &q,
			MessageBody: aws.String(`{"kind":"email-sync"}`),
			MessageAttributes: map[string]types.MessageAttributeValue{
				"kind": {DataType: aws.String("String"), StringValue: aws.String("email-sync")},
			},
		})
		if err != nil {
			t.Fatal(err) // the client also checks the emulator's MD5 digests
		}
		m := receiveOne(t, c, q, 30)
		if aws.ToString(m.MessageId) != aws.ToString(sent.MessageId) {
			t.Errorf("received message %s, sent %s", aws.ToString(m.MessageId), aws.ToString(sent.MessageId))
		}
		if got := aws.ToString(m.Body); got != `{"kind":"email-sync"}` {
			t.Errorf("body = %s", got)
		}
		if got := aws.ToString(m.MessageAttributes["kind"].StringValue); got != "email-sync" {
			t.Errorf("message attribute kind = %q", got)
		}
		if got := m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)]; got != "1" {
			t.Errorf("ApproximateReceiveCount = %q, want 1", got)
		}
		if _, err := c.DeleteMessage(t.Context(), &sqs.DeleteMessageInput{QueueUrl: &q, ReceiptHandle: m.ReceiptHandle}); err != nil {
			t.Fatal(err)
		}
		if got := counts(t, c, q); got != [2]int{0, 0} {
			t.Errorf("after delete (visible, in flight) = %v, want [0 0]", got)
		}
	})

	t.Run("approximate counts", func(t *testing.T) {
		t.Parallel()
		q := e.Queue(t, "counts", nil)
		for i := range 3 {
			send(t, c, q, "m"+strconv.Itoa(i))
		}
		if got := counts(t, c, q); got != [2]int{3, 0} {
			t.Errorf("after 3 sends (visible, in flight) = %v, want [3 0]", got)
		}
		receiveOne(t, c, q, 30)
		if got := counts(t, c, q); got != [2]int{2, 1} {
			t.Errorf("after 1 receive (visible, in flight) = %v, want [2 1]", got)
		}
	})

	t.Run("visibility timeout", func(t *testing.T) {
		t.Parallel()
		q := e.Queue(t, "visibility", map[string]string{"VisibilityTimeout": "1"})
		send(t, c, q, "comes back")
		first := receiveOne(t, c, q, 0)
		if got := receive(t, c, q, 0, 0); len(got) != 0 {
			t.Fatalf("message visible again at once: %v", got)
		}
		again := receiveOne(t, c, q, 0) // long polls past the 1s timeout
		if aws.ToString(again.MessageId) != aws.ToString(first.MessageId) {
			t.Errorf("got message %s back, want %s", aws.ToString(again.MessageId), aws.ToString(first.MessageId))
		}
		if got := again.Attributes["ApproximateReceiveCount"]; got != "2" {
			t.Errorf("ApproximateReceiveCount = %q, want 2", got)
		}
	})

	t.Run("change message visibility", func(t *testing.T) {
		t.Parallel()
		q := e.Queue(t, "change-visibility", map[string]string{"VisibilityTimeout": "30"})
		send(t, c, q, "retry me")
		m := receiveOne(t, c, q, 0)
		// A failed job releases its message early: visible again now.
		if _, err := c.ChangeMessageVisibility(t.Context(), &sqs.ChangeMessageVisibilityInput{
			QueueUrl: &q, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0,
		}); err != nil {
			t.Fatal(err)
		}
		m = receiveOne(t, c, q, 0)
		if got := m.Attributes["ApproximateReceiveCount"]; got != "2" {
			t.Errorf("ApproximateReceiveCount = %q, want 2", got)
		}
		// A long job extends its lease past the queue's 30 seconds.
		if _, err := c.ChangeMessageVisibility(t.Context(), &sqs.ChangeMessageVisibilityInput{
			QueueUrl: &q, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 120,
		}); err != nil {
			t.Fatal(err)
		}
		if got := receive(t, c, q, 0, 0); len(got) != 0 {
			t.Errorf("message visible while its lease runs: %v", got)
		}
		// An outdated receipt handle no longer moves it.
		_, err := c.ChangeMessageVisibility(t.Context(), &sqs.ChangeMessageVisibilityInput{
			QueueUrl: &q, ReceiptHandle: aws.String("not-a-receipt-handle"), VisibilityTimeout: 0,
		})
		if err == nil {
			t.Errorf("ChangeMessageVisibility with a bad receipt handle succeeded")
		}
	})

	t.Run("redrive to dead-letter queue", func(t *testing.T) {
		t.Parallel()
		dlq := e.Queue(t, "jobs-dlq", nil)
		dlqARN := attribute(t, c, dlq, types.QueueAttributeNameQueueArn)
		q := e.Queue(t, "jobs", map[string]string{
			"VisibilityTimeout": "1",
			"RedrivePolicy":     fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":"2"}`, dlqARN),
		})
		if got := attribute(t, c, q, types.QueueAttributeNameRedrivePolicy); !strings.Contains(got, dlqARN) {
			t.Errorf("RedrivePolicy = %q, want one naming %s", got, dlqARN)
		}
		send(t, c, q, "poison")
		for want := 1; want <= 2; want++ {
			m := receiveOne(t, c, q, 0) // never deleted: the job "fails"
			if got := m.Attributes["ApproximateReceiveCount"]; got != strconv.Itoa(want) {
				t.Errorf("receive %d: ApproximateReceiveCount = %q", want, got)
			}
		}
		// Past maxReceiveCount the next receive moves it instead of
		// delivering it a third time.
		if got := receive(t, c, q, 2, 1); len(got) != 0 {
			t.Fatalf("message delivered a third time: %+v", got[0].Attributes)
		}
		dead := receiveOne(t, c, dlq, 0)
		if got := aws.ToString(dead.Body); got != "poison" {
			t.Errorf("dead-letter body = %q, want poison", got)
		}
		t.Logf("dead-letter message attributes: %v", dead.Attributes)
		if got := counts(t, c, q); got != [2]int{0, 0} {
			t.Errorf("source queue after redrive (visible, in flight) = %v, want [0 0]", got)
		}
	})

	t.Run("batches", func(t *testing.T) {
		t.Parallel()
		q := e.Queue(t, "batch", nil)
		var entries []types.SendMessageBatchRequestEntry
		for i := range 10 {
			entries = append(entries, types.SendMessageBatchRequestEntry{
				Id: aws.String("e" + strconv.Itoa(i)), MessageBody: aws.String("b" + strconv.Itoa(i)),
			})
		}
		out, err := c.SendMessageBatch(t.Context(), &sqs.SendMessageBatchInput{QueueUrl: &q, Entries: entries})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Successful) != 10 || len(out.Failed) != 0 {
			t.Fatalf("batch send: %d ok, %d failed", len(out.Successful), len(out.Failed))
		}
		got := receive(t, c, q, 0, 10)
		if len(got) == 0 {
			t.Fatal("batch receive got nothing")
		}
		var del []types.DeleteMessageBatchRequestEntry
		var vis []types.ChangeMessageVisibilityBatchRequestEntry
		for i, m := range got {
			id := aws.String("d" + strconv.Itoa(i))
			if i%2 == 0 {
				del = append(del, types.DeleteMessageBatchRequestEntry{Id: id, ReceiptHandle: m.ReceiptHandle})
			} else {
				vis = append(vis, types.ChangeMessageVisibilityBatchRequestEntry{Id: id, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 60})
			}
		}
		dout, err := c.DeleteMessageBatch(t.Context(), &sqs.DeleteMessageBatchInput{QueueUrl: &q, Entries: del})
		if err != nil || len(dout.Failed) != 0 {
			t.Fatalf("batch delete: %v, failed %v", err, dout)
		}
		if len(vis) > 0 {
			vout, err := c.ChangeMessageVisibilityBatch(t.Context(), &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: &q, Entries: vis})
			if err != nil || len(vout.Failed) != 0 {
				t.Fatalf("batch change visibility: %v, failed %v", err, vout)
			}
		}
		if got, want := counts(t, c, q), [2]int{10 - len(got), len(vis)}; got != want {
			t.Errorf("after batches (visible, in flight) = %v, want %v", got, want)
		}
	})

	t.Run("delayed message", func(t *testing.T) {
		t.Parallel()
		q := e.Queue(t, "delay", nil)
		if _, err := c.SendMessage(t.Context(), &sqs.SendMessageInput{
			QueueUrl: &q, MessageBody: aws.String("later"), DelaySeconds: 1,
		}); err != nil {
			t.Fatal(err)
		}
		if got := receive(t, c, q, 0, 1); len(got) != 0 {
			t.Fatalf("delayed message delivered at once")
		}
		if got := aws.ToString(receiveOne(t, c, q, 0).Body); got != "later" {
			t.Errorf("body = %q", got)
		}
	})

	t.Run("purge", func(t *testing.T) {
		t.Parallel()
		q := e.Queue(t, "purge", nil)
		send(t, c, q, "gone")
		if _, err := c.PurgeQueue(t.Context(), &sqs.PurgeQueueInput{QueueUrl: &q}); err != nil {
			t.Fatal(err)
		}
		if got := counts(t, c, q); got != [2]int{0, 0} {
			t.Errorf("after purge (visible, in flight) = %v, want [0 0]", got)
		}
	})
}

func send(t *testing.T, c *sqs.Client, q, body string) {
	t.Helper()
	if _, err := c.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: &q, MessageBody: &body}); err != nil {
		t.Fatal(err)
	}
}

// receive asks once for up to max messages, long polling for wait seconds,
// with every system attribute.
func receive(t *testing.T, c *sqs.Client, q string, wait, max int32) []types.Message {
	t.Helper()
	if max == 0 {
		max = 1
	}
	out, err := c.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{
		QueueUrl:                    &q,
		MaxNumberOfMessages:         max,
		WaitTimeSeconds:             wait,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
		MessageAttributeNames:       []string{"All"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.Messages
}

// receiveOne long polls until a message arrives, up to 5 seconds, and sets
// its visibility timeout to visibility seconds unless that is 0.
func receiveOne(t *testing.T, c *sqs.Client, q string, visibility int32) types.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:                    &q,
		WaitTimeSeconds:             5,
		VisibilityTimeout:           visibility,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
		MessageAttributeNames:       []string{"All"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) != 1 {
		t.Fatalf("received %d messages, want 1", len(out.Messages))
	}
	return out.Messages[0]
}

func attribute(t *testing.T, c *sqs.Client, q string, name types.QueueAttributeName) string {
	t.Helper()
	out, err := c.GetQueueAttributes(t.Context(), &sqs.GetQueueAttributesInput{
		QueueUrl: &q, AttributeNames: []types.QueueAttributeName{name},
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.Attributes[string(name)]
}

// counts returns ApproximateNumberOfMessages and
// ApproximateNumberOfMessagesNotVisible.
func counts(t *testing.T, c *sqs.Client, q string) [2]int {
	t.Helper()
	out, err := c.GetQueueAttributes(t.Context(), &sqs.GetQueueAttributesInput{
		QueueUrl: &q,
		AttributeNames: []types.QueueAttributeName{
			types.QueueAttributeNameApproximateNumberOfMessages,
			types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	var n [2]int
	for i, name := range []types.QueueAttributeName{
		types.QueueAttributeNameApproximateNumberOfMessages,
		types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
	} {
		v, err := strconv.Atoi(out.Attributes[string(name)])
		if err != nil {
			t.Fatalf("%s = %q: %v", name, out.Attributes[string(name)], err)
		}
		n[i] = v
	}
	return n
}
