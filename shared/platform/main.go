package platform

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/personalcrm/core/shared/logging"
	"github.com/personalcrm/core/shared/monitor"
)

// Handler is what a function serves: an API route (api.Route), a job
// type's worker (*worker.Worker) or an operation (Op).
type Handler interface {
	// Lambda returns the handler that lambda.Start serves as app's
	// function.
	Lambda(app *App) any
}

// Builder builds a function's handler from what a cold start has. It does
// no I/O: connections open on first use.
type Builder func(app *App) (Handler, error)

// Build is build as a Builder, for a table of functions of every kind.
func Build[H Handler](build func(*App) (H, error)) Builder {
	return func(app *App) (Handler, error) {
		h, err := build(app)
		if err != nil {
			return nil, err
		}
		return h, nil
	}
}

// Main is every Lambda's main: it builds the App of the catalog function
// name and, from it, the function's handler with build, and serves it
// until the runtime ends the process, closing the App's connections on
// SIGTERM (aws-lambda-go registers the internal extension that makes Lambda
// send it). An error in either step is logged and exits the process: the
// runtime reports the failed init and retries it. It does not return.
func Main[H Handler](name string, build func(*App) (H, error)) {
	app, err := Init(context.Background(), name)
	if err != nil {
		Fatal(err)
	}
	h, err := build(app)
	if err != nil {
		Fatal(err)
	}
	lambda.StartWithOptions(Lambda(app, h), lambda.WithEnableSIGTERM(app.Close))
}

// Lambda is h as app's Lambda handler, with what every invocation of every
// kind of function shares: the function's name and cold_start (whether it
// is the instance's first invocation) among the context's log attributes,
// the ColdStart metric on the first, and app's monitor in the context, for
// the calls to other services that the invocation times.
func Lambda(app *App, h Handler) lambda.Handler {
	// A handler that takes the raw payload already (a route's server) is
	// called as it is: wrapping it again would copy every response once
	// more.
	fn := h.Lambda(app)
	inner, ok := fn.(lambda.Handler)
	if !ok {
		inner = lambda.NewHandler(fn)
	}
	inv := &invocations{
		inner:  inner,
		fnAttr: slog.String(logging.FunctionKey, app.Function.Name),
		mon:    app.Monitor,
	}
	inv.cold.Store(true)
	return inv
}

type invocations struct {
	inner  lambda.Handler
	fnAttr slog.Attr
	mon    *monitor.Monitor
	// cold is true until the first invocation begins.
	cold atomic.Bool
}

func (i *invocations) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	cold := i.cold.Swap(false)
	ctx = logging.WithAttrs(ctx, i.fnAttr, slog.Bool(logging.ColdStartKey, cold))
	ctx = monitor.NewContext(ctx, i.mon)
	if cold {
		i.mon.ColdStart(ctx)
	}
	return i.inner.Invoke(ctx, payload)
}

// Op is a scheduled or deploy-time operation. Invoked by a schedule or a
// deploy trigger, whatever the event, it runs once and answers its report,
// or its error so that the invoker sees the failure. The report is logged
// as well (implement slog.LogValuer to choose how).
type Op func(ctx context.Context) (any, error)

// Lambda implements Handler.
func (op Op) Lambda(app *App) any {
	log := app.Log
	return func(ctx context.Context, _ json.RawMessage) (any, error) {
		start := time.Now()
		res, err := op(ctx)
		if err != nil {
			log.ErrorContext(ctx, "operation failed", "err", err, "duration_ms", time.Since(start).Milliseconds())
			return nil, err
		}
		log.InfoContext(ctx, "operation done", "result", res, "duration_ms", time.Since(start).Milliseconds())
		return res, nil
	}
}
