// Echo is a Lambda function for the Lambda-emulator tests: it answers with
// the message it was sent and the ECHO_GREETING variable, or, when asked,
// returns an error, exits the process or sleeps past its timeout.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type request struct {
	Message string `json:"message"`
	Fail    string `json:"fail,omitempty"`
	Exit    int    `json:"exit,omitempty"`
	Sleep   string `json:"sleep,omitempty"`
}

type response struct {
	Message      string `json:"message"`
	Greeting     string `json:"greeting"`
	FunctionName string `json:"functionName"`
	RequestID    string `json:"requestId"`
}

// refusal is the error the function returns when asked to fail; its type
// name shows up as errorType in the invoke response.
type refusal struct{ reason string }

func (r *refusal) Error() string { return "refused: " + r.reason }

func handle(ctx context.Context, req request) (response, error) {
	lc, _ := lambdacontext.FromContext(ctx)
	fmt.Printf("echo handling %q\n", req.Message)
	switch {
	case req.Fail != "":
		return response{}, &refusal{reason: req.Fail}
	case req.Exit != 0:
		os.Exit(req.Exit)
	case req.Sleep != "":
		d, err := time.ParseDuration(req.Sleep)
		if err != nil {
			return response{}, err
		}
		time.Sleep(d)
	}
	return response{
		Message:      req.Message,
		Greeting:     os.Getenv("ECHO_GREETING"),
		FunctionName: lambdacontext.FunctionName,
		RequestID:    lc.AwsRequestID,
	}, nil
}

func main() {
	lambda.Start(handle)
}
