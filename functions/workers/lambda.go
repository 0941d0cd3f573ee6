package workers

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/personalcrm/core/shared/domain/email"
	"github.com/personalcrm/core/shared/logging"
	"github.com/personalcrm/core/shared/monitor"
	"github.com/personalcrm/core/shared/platform"
	"github.com/personalcrm/core/shared/queue"
	"github.com/personalcrm/core/shared/queue/sqsqueue"
	"github.com/personalcrm/core/shared/queue/worker"
)

// AppDeps are the handlers' dependencies in a Lambda: SQS as configured,
// the extraction policy with the deployment's extra patterns.
func AppDeps(app *platform.App) Deps {
	return Deps{
		Log:        app.Log,
		Monitor:    app.Monitor,
		DB:         app.DB,
		Backend:    sqsqueue.FromConfig(app.Config),
		Extraction: email.WithIgnore(app.Config.ExtractIgnore...),
		Cache:      app.Cache,
	}
}

// Retention is how long the deployment keeps finished jobs.
func Retention(app *platform.App) time.Duration {
	return time.Duration(app.Config.JobsRetentionDays) * 24 * time.Hour
}

// Queue is the job queue of a Lambda, on SQS as configured.
func Queue(app *platform.App) *queue.Queue {
	return queue.New(app.DB, sqsqueue.FromConfig(app.Config), app.Log)
}

// StartJob serves w as the Lambda of app's job type. It does not return.
func StartJob(app *platform.App, w *worker.Worker) { worker.Start(app, w) }

// StartOp serves op as the Lambda of app's function: invoked by a
// schedule or a deploy trigger, whatever the event, it runs op once and
// returns its report, or its error so that the invoker sees the failure.
// It does not return.
func StartOp(app *platform.App, op Op) {
	log := app.Log
	fnAttr := slog.String(logging.FunctionKey, op.Function.Name)
	lambda.StartWithOptions(func(ctx context.Context, _ json.RawMessage) (any, error) {
		ctx = logging.WithAttrs(ctx, fnAttr)
		// The operation's calls to Google are timed with it.
		ctx = monitor.NewContext(ctx, app.Monitor)
		start := time.Now()
		res, err := op.Run(ctx)
		if err != nil {
			log.ErrorContext(ctx, "operation failed", "err", err, "duration_ms", time.Since(start).Milliseconds())
			return nil, err
		}
		log.InfoContext(ctx, "operation done", "result", res, "duration_ms", time.Since(start).Milliseconds())
		return res, nil
	}, lambda.WithEnableSIGTERM(app.Close))
}
