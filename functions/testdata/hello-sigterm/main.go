// Hello-sigterm is the hello world with aws-lambda-go's SIGTERM option,
// which every function of this system uses to close its pool: it measures
// the cost of that option alone, a loopback round trip to register an
// internal extension before the first invocation.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.StartWithOptions(func(context.Context, map[string]any) (string, error) { return "hello", nil },
		lambda.WithEnableSIGTERM(func() {}))
}
