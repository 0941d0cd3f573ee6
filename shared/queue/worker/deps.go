package worker

import (
	"log/slog"

	"github.com/personalcrm/core/shared/cache"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/monitor"
	"github.com/personalcrm/core/shared/platform"
	"github.com/personalcrm/core/shared/queue"
)

// Deps are what job handlers are built from.
type Deps struct {
	Log     *slog.Logger
	Monitor *monitor.Monitor
	DB      *db.Pool
	// Backend changes the visibility of failed messages; nil leaves them
	// to the queue's visibility timeout.
	Backend queue.Backend
	// Worker tunes the worker (backoff, concurrency).
	Worker Options
	// Cache holds the reads that the jobs' writes invalidate; nil is none.
	Cache *cache.Cache
}

// DepsOf are the Deps of app's function, with backend as the queue's
// transport.
func DepsOf(app *platform.App, backend queue.Backend) Deps {
	return Deps{Log: app.Log, Monitor: app.Monitor, DB: app.DB, Backend: backend, Cache: app.Cache}
}

// Options are d.Worker, with d's logger and monitor where it leaves them
// unset.
func (d Deps) Options() Options {
	o := d.Worker
	if o.Log == nil {
		o.Log = d.Log
	}
	if o.Monitor == nil {
		o.Monitor = d.Monitor
	}
	return o
}
