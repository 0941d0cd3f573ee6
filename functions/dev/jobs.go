package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/personalcrm/core/functions/jobs/calendarsync"
	"github.com/personalcrm/core/functions/workers"
	"github.com/personalcrm/core/functions/workers/aianalysis"
	"github.com/personalcrm/core/functions/workers/enrich"
	"github.com/personalcrm/core/functions/workers/gmailwatch"
	"github.com/personalcrm/core/functions/workers/mailsync"
	"github.com/personalcrm/core/shared/cache"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/domain/email"
	"github.com/personalcrm/core/shared/monitor"
	"github.com/personalcrm/core/shared/queue"
	"github.com/personalcrm/core/shared/queue/sqsqueue"
	"github.com/personalcrm/core/shared/queue/worker"
)

// background is the job queue of the local server: every job consumer,
// fed the same SQS event batches Lambda feeds them, and every schedule on
// a ticker.
type background struct {
	log      *slog.Logger
	mon      *monitor.Monitor
	queue    *queue.Queue
	receiver queue.Receiver
	workers  []*worker.Worker
	ops      map[string]workers.Op
	wg       sync.WaitGroup
}

// rawSender puts a message without job attributes on a queue, as a
// schedule does.
type rawSender interface {
	SendRaw(kind, body string) error
}

// newBackground uses SQS when queue URLs are configured, and the
// in-memory queue otherwise. Errors: a bad TOKEN_KEYS.
func newBackground(cfg *config.Config, log *slog.Logger, mon *monitor.Monitor, pool *db.Pool, c *cache.Cache) (*background, error) {
	tokenKeys, err := cfg.TokenBox()
	if err != nil {
		return nil, err
	}
	var backend queue.Backend
	var receiver queue.Receiver
	if b := sqsqueue.FromConfig(cfg); b != nil {
		backend, receiver = b, b.(*sqsqueue.Backend)
	} else {
		m := queue.NewMemory(queue.MemoryOptions{})
		backend, receiver = m, m
	}
	q := queue.New(pool, backend, log)
	mail, err := mailsync.FromConfig(cfg, pool)
	if err != nil {
		return nil, err
	}
	cal, err := calendarsync.FromConfig(cfg, pool)
	if err != nil {
		return nil, err
	}
	enrichment, err := enrich.FromConfig(cfg, pool)
	if err != nil {
		return nil, err
	}
	watch, err := gmailwatch.FromConfig(cfg, pool, log)
	if err != nil {
		return nil, err
	}
	deps := workers.Deps{Log: log, Monitor: mon, DB: pool, Backend: backend, Extraction: email.WithIgnore(cfg.ExtractIgnore...), Cache: c}
	retention := time.Duration(cfg.JobsRetentionDays) * 24 * time.Hour
	ops := map[string]workers.Op{}
	for _, op := range []workers.Op{workers.Relay(q), workers.Maintenance(pool, retention, tokenKeys, log), workers.SyncAccounts(pool, q, workers.SyncAccountsOptions{}),
		gmailwatch.Op(pool, watch)} {
		ops[op.Function.Name] = op
	}
	own := []*worker.Worker{mailsync.Worker(deps, mail), enrich.Worker(deps, enrichment), aianalysis.Worker(deps, aiOptions(cfg)),
		calendarsync.Worker(deps, cal)}
	return &background{log: log, mon: mon, queue: q, receiver: receiver, workers: workers.Jobs(deps, own...), ops: ops}, nil
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
		res, err := op.Run(monitor.NewContext(ctx, b.mon))
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
