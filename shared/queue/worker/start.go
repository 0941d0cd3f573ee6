package worker

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/personalcrm/core/shared/platform"
)

// Start serves w as the Lambda of app's function. It does not return. On
// SIGTERM (the environment shutting down) the app's pool is closed.
func Start(app *platform.App, w *Worker) {
	lambda.StartWithOptions(w.LambdaHandler(), lambda.WithEnableSIGTERM(app.Close))
}
