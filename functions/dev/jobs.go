package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/auth"
	"github.com/personalcrm/core/shared/cache"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/monitor"
	"github.com/personalcrm/core/shared/platform"
	"github.com/personalcrm/core/shared/queue"
	"github.com/personalcrm/core/shared/queue/sqsqueue"
	"github.com/personalcrm/core/shared/queue/worker"
	"github.com/personalcrm/core/shared/ratelimit"
)

// localApp is what every function of the local server is built from: one
// pool, cache and session store, and the queue's transport, which is SQS
// when queue URLs are configured and process memory otherwise (receiver
// is what the consumers poll). Without OPENAI_API_KEY, AI analysis asks
// the sandbox OpenAI that mountOpenAI serves.
func localApp(cfg *config.Config, log *slog.Logger, mon *monitor.Monitor, pool *db.Pool, c *cache.Cache) (*platform.App, queue.Receiver) {
	if cfg.OpenAIAPIKey == "" {
		local := *cfg
		local.OpenAIAPIKey = config.SandboxOpenAIKey
		local.OpenAIBaseURL = cfg.AuthURL.JoinPath(openAISandboxPath, "v1")
		cfg = &local
	}
	var backend queue.Backend
	var receiver queue.Receiver
	if b := sqsqueue.FromConfig(cfg); b != nil {
		backend, receiver = b, b.(*sqsqueue.Backend)
	} else {
		m := queue.NewMemory(queue.MemoryOptions{})
		backend, receiver = m, m
	}
	sessions := auth.NewCachedSessions(auth.NewSessions(pool).WithMaxAge(cfg.SessionMaxAge), c,
		auth.CacheOptions{Secret: []byte(cfg.AuthSecret.Reveal()), Log: log})
	app := &platform.App{
		Function: function, Config: cfg, Log: log, Monitor: mon,
		DB: pool, Sessions: sessions, Cache: c, Backend: backend,
	}
	if c != nil {
		app.Limiter = ratelimit.New(c, log, mon)
	}
	return app, receiver
}

// built is every function of the catalog, built as its Lambda builds it
// (functions.Builders), by kind.
type built struct {
	routes  []api.Route
	workers []*worker.Worker
	ops     map[string]platform.Op
}

// buildAll builds every function of the catalog from app with its
// constructor in builders (functions.Builders). Errors: a function without
// a constructor, one whose constructor fails, or one
// that builds a handler of another kind than its catalog entry's.
func buildAll(app *platform.App, builders map[string]platform.Builder) (built, error) {
	b := built{ops: map[string]platform.Op{}}
	for _, fn := range catalog.All() {
		build, ok := builders[fn.Name]
		if !ok {
			return b, fmt.Errorf("%s: no constructor", fn.Name)
		}
		h, err := build(app.For(fn))
		if err != nil {
			return b, fmt.Errorf("%s: %w", fn.Name, err)
		}
		switch h := h.(type) {
		case api.Route:
			if fn.Kind == catalog.Route {
				b.routes = append(b.routes, h)
				continue
			}
		case *worker.Worker:
			if fn.Kind == catalog.Job {
				b.workers = append(b.workers, h)
				continue
			}
		case platform.Op:
			if fn.Kind == catalog.Op {
				b.ops[fn.Name] = h
				continue
			}
		}
		return b, fmt.Errorf("%s: a %s built as a %T", fn.Name, fn.Kind, h)
	}
	return b, nil
}

// background is the job queue of the local server: every job consumer,
// fed the same SQS event batches Lambda feeds them, and every schedule on
// a ticker.
type background struct {
	log      *slog.Logger
	mon      *monitor.Monitor
	queue    *queue.Queue
	receiver queue.Receiver
	workers  []*worker.Worker
	ops      map[string]platform.Op
	wg       sync.WaitGroup
}

// rawSender puts a message without job attributes on a queue, as a
// schedule does.
type rawSender interface {
	SendRaw(kind, body string) error
}

// newBackground runs the workers and operations of fns on app's queue,
// polling receiver.
func newBackground(app *platform.App, receiver queue.Receiver, fns built) *background {
	return &background{log: app.Log, mon: app.Monitor, queue: sqsqueue.Queue(app), receiver: receiver, workers: fns.workers, ops: fns.ops}
}

// start runs the consumers and schedules until ctx ends; wait waits for
// them to stop.
func (b *background) start(ctx context.Context) {
	for _, w := range b.workers {
		b.wg.Go(func() { worker.Poll(ctx, b.receiver, w.Function(), w.Handle, b.log) })
	}
	for _, s := range catalog.Schedules() {
		b.wg.Go(func() { b.schedule(ctx, s) })
	}
}

func (b *background) wait() { b.wg.Wait() }

// schedule runs s at start and then every s.Every.
func (b *background) schedule(ctx context.Context, s catalog.Schedule) {
	t := time.NewTicker(s.Every)
	defer t.Stop()
	for {
		b.fire(ctx, s)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (b *background) fire(ctx context.Context, s catalog.Schedule) {
	log := b.log.With("schedule", s.Name, "target", s.Target)
	if op, ok := b.ops[s.Target]; ok {
		res, err := op(monitor.NewContext(ctx, b.mon))
		if err != nil && ctx.Err() == nil {
			log.WarnContext(ctx, "scheduled operation failed", "err", err)
			return
		}
		log.DebugContext(ctx, "scheduled operation done", "result", res)
		return
	}
	sender, ok := b.receiver.(rawSender)
	if !ok {
		log.WarnContext(ctx, "schedule skipped: the local queue cannot send to its target")
		return
	}
	payload := s.Payload
	if payload == "" {
		payload = "{}"
	}
	if err := sender.SendRaw(s.Target, payload); err != nil {
		log.WarnContext(ctx, "scheduled job not sent", "err", err)
	}
}
