// Package emailsync is the email-sync job: it reads a Google account's
// mail through the Gmail API into emails. It is a package of its own so
// that only the email-sync function links the Gmail client and what it
// brings (gRPC, OpenTelemetry), whose package initialisation would
// otherwise add to every job's cold start.
package emailsync

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"
	"google.golang.org/api/gmail/v1"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/domain/contact"
	"github.com/personalcrm/core/shared/domain/email"
	"github.com/personalcrm/core/shared/google"
	"github.com/personalcrm/core/shared/logging"
	"github.com/personalcrm/core/shared/platform"
	"github.com/personalcrm/core/shared/queue"
	"github.com/personalcrm/core/shared/queue/sqsqueue"
	"github.com/personalcrm/core/shared/queue/worker"
)

// Options are what email-sync needs besides the workers' dependencies:
// Google's client and the accounts' tokens, and how much one run does.
type Options struct {
	Google *google.Client
	Tokens *google.Tokens
	// PageSize is how many messages one list call asks for; default
	// DefaultPageSize.
	PageSize int
	// PerRun is about how many messages one run reads before it leaves
	// the rest to a continuation job; default DefaultPerRun.
	PerRun int
	// Newest is how many of the newest messages a full sync reads;
	// default DefaultNewest.
	Newest int
}

// Defaults of Options. A page is Gmail's largest list page: what a page
// costs the database (one transaction, one extraction job) is mostly per
// page, not per message, and its messages are read in batches anyway. A
// run reads two pages, so that one is read while the other is stored.
const (
	DefaultPageSize = 500
	DefaultPerRun   = 1000
	DefaultNewest   = 2000
)

// FromConfig builds the Options from the configuration. It does no I/O.
// Errors: a bad TOKEN_KEYS or Google configuration.
func FromConfig(cfg *config.Config, store google.Store) (Options, error) {
	g, tokens, err := google.TokensFromConfig(cfg, store)
	return Options{Google: g, Tokens: tokens}, err
}

// New builds the email-sync worker of app's function: Google and the
// token store as configured, SQS as the queue.
func New(app *platform.App) (*worker.Worker, error) {
	o, err := FromConfig(app.Config, app.DB)
	if err != nil {
		return nil, err
	}
	return Worker(worker.DepsOf(app, sqsqueue.For(app)), o), nil
}

// The headers a synced message keeps: the address headers, subject,
// date and ids, and those the extraction rules read (see email.Automated
// and email.ListMail).
var (
	syncedHeaders = []string{"From", "To", "Cc", "Bcc", "Reply-To", "Subject", "Date", "Message-ID", "Auto-Submitted", "Precedence", "List-Id", "List-Unsubscribe"}
	ruleHeaders   = []string{"auto-submitted", "precedence", "list-id", "list-unsubscribe"}
)

// skippedLabels mark messages that were not exchanged with anyone.
var skippedLabels = []string{"DRAFT", "SPAM"}

// batchConcurrency is how many batch requests a run has in flight:
// with batchSize calls each, the next page's are read while a page is
// stored, within Gmail's per-user quota (see infra/CAPACITY.md).
const batchConcurrency = 1

var errMailNotConfigured = errors.New("email-sync has no Google client or token store")

type mailSyncer struct {
	d     worker.Deps
	m     Options
	fn    catalog.Function
	syncs *email.Syncs
	mails *email.Service
	queue *queue.Queue
}

// Worker syncs one Google account's mail into emails, and enqueues one
// contact extraction of a page's new messages in the transaction that
// stores them. The first sync of an account, and one asked as Full, reads the
// newest messages page by page; later ones read the mailbox's history
// since the previous one, and start over with a full sync when Gmail no
// longer has that history. A run does about PerRun messages and leaves
// the rest to a continuation job. Runs of one account never overlap, and
// a message is stored, and extracted, once however often it is read.
func Worker(d worker.Deps, m Options) *worker.Worker {
	fn := catalog.MustLookup(catalog.EmailSync)
	if m.PageSize <= 0 {
		m.PageSize = DefaultPageSize
	}
	if m.PerRun <= 0 {
		m.PerRun = DefaultPerRun
	}
	if m.Newest <= 0 {
		m.Newest = DefaultNewest
	}
	if d.Log == nil {
		d.Log = logging.Discard()
	}
	q := queue.New(d.DB, d.Backend, d.Log)
	s := &mailSyncer{d: d, m: m, fn: fn, syncs: email.NewSyncs(d.DB, q), mails: email.NewService(d.DB), queue: q}
	return worker.New(fn, d.DB, d.Backend, s.run, d.Options())
}

// run is one run of a sync.
type run struct {
	*mailSyncer
	p       email.SyncJob
	gmail   *gmail.Service
	batch   batchGetter
	mailbox string
	st      email.SyncState
	// read counts the messages this run has looked at.
	read int
}

func (s *mailSyncer) run(ctx context.Context, job queue.Job, p email.SyncJob) error {
	if s.m.Google == nil || s.m.Tokens == nil {
		return errMailNotConfigured
	}
	st, err := s.syncs.Acquire(ctx, p.UserID, p.AccountID, s.fn.Timeout+time.Minute)
	if err != nil {
		return err
	}
	defer s.syncs.Release(context.WithoutCancel(ctx), p.AccountID)
	err = s.sync(ctx, p, st)
	var ungranted *google.NotGrantedError
	if errors.As(err, &ungranted) {
		// The schedule and push stop enqueueing syncs of the account
		// until its person grants Gmail again.
		if uerr := s.m.Tokens.Ungrant(context.WithoutCancel(ctx), p.UserID, p.AccountID, google.Gmail); uerr != nil {
			s.d.Log.WarnContext(ctx, "account without Gmail not recorded", "account_id", p.AccountID, "err", uerr)
		}
	}
	return err
}

// sync reads the account's new mail from where st stands.
func (s *mailSyncer) sync(ctx context.Context, p email.SyncJob, st email.SyncState) error {
	if _, err := s.m.Tokens.Token(ctx, p.UserID, p.AccountID); err != nil {
		var off *google.DisconnectedError
		if errors.As(err, &off) {
			// The person disconnected the account after the sync was
			// queued: it ends without reading anything.
			s.d.Log.InfoContext(ctx, "account disconnected; nothing to sync", "account_id", p.AccountID)
			return nil
		}
		return fmt.Errorf("token of account %s: %w", p.AccountID, err)
	}
	client := s.m.Google.APIClient(ctx, s.m.Tokens, p.UserID, p.AccountID)
	svc, err := gmail.NewService(ctx, option.WithHTTPClient(client), option.WithEndpoint(s.m.Google.Endpoints().Gmail))
	if err != nil {
		return fmt.Errorf("gmail client: %w", err)
	}
	r := &run{mailSyncer: s, p: p, gmail: svc, batch: batchGetter{client: client, endpoint: s.m.Google.Endpoints().Gmail}, st: st}
	profile, err := svc.Users.GetProfile("me").Context(ctx).Do()
	if err != nil {
		return r.gmailErr("read the mailbox's profile", err)
	}
	r.mailbox = profile.EmailAddress
	if p.Full || (st.HistoryID == "" && !st.Full()) {
		r.startFull(profile.HistoryId)
	}
	if !r.st.Full() {
		expired, err := r.incremental(ctx)
		if err != nil || !expired {
			return err
		}
		s.d.Log.InfoContext(ctx, "mail history expired; syncing in full", "account_id", p.AccountID)
		r.startFull(profile.HistoryId)
	}
	return r.full(ctx)
}

func (r *run) startFull(historyID uint64) {
	r.st.FullHistoryID = strconv.FormatUint(historyID, 10)
	r.st.PageToken, r.st.Listed = "", 0
}

// full lists the mailbox, newest first, from the state's page on. The
// next page is listed and fetched while one is stored: Gmail's answers
// and the database's overlap. Pages are stored in order, each with the
// state that resumes after it, so a run that ends anywhere loses nothing
// and the next one starts after the last page stored.
func (r *run) full(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	pages := make(chan listed, 1)
	var g errgroup.Group
	g.Go(func() error {
		defer close(pages)
		r.list(ctx, r.st, pages)
		return nil
	})
	defer func() {
		// The lister ends before the run does.
		cancel()
		_ = g.Wait()
	}()
	for p := range pages {
		if p.err != nil {
			return p.err
		}
		r.st = p.st
		more, err := r.commit(ctx, p.page, p.done, p.position)
		if err != nil || !more {
			return err
		}
	}
	return ctx.Err()
}

// listed is one page of a full sync, fetched and ready to store, with
// the state that resumes after it; or the error that ended the listing.
type listed struct {
	page     fetched
	st       email.SyncState
	done     bool
	position string
	err      error
}

// list lists and fetches the pages of a full sync from st on, into
// pages, until the mailbox's end, the run's share (PerRun) or an error,
// or until ctx ends.
func (r *run) list(ctx context.Context, st email.SyncState, pages chan<- listed) {
	send := func(p listed) bool {
		select {
		case pages <- p:
			return true
		case <-ctx.Done():
			return false
		}
	}
	read := r.read
	for {
		call := r.gmail.Users.Messages.List("me").MaxResults(int64(min(r.m.PageSize, r.m.Newest-st.Listed))).Context(ctx)
		if st.PageToken != "" {
			call = call.PageToken(st.PageToken)
		}
		res, err := call.Do()
		if err != nil {
			send(listed{err: r.gmailErr("list messages", err)})
			return
		}
		ids := make([]string, len(res.Messages))
		for i, m := range res.Messages {
			ids[i] = m.Id
		}
		st.Listed += len(ids)
		st.PageToken = res.NextPageToken
		done := res.NextPageToken == "" || st.Listed >= r.m.Newest
		if done {
			st.HistoryID, st.FullHistoryID, st.PageToken, st.Listed = st.FullHistoryID, "", "", 0
		}
		page, err := r.fetchPage(ctx, ids)
		if err != nil {
			send(listed{err: err})
			return
		}
		if !send(listed{page: page, st: st, done: done, position: "full:" + st.FullHistoryID + ":" + strconv.Itoa(st.Listed)}) {
			return
		}
		// The page that completes the run's share is its last.
		if read += len(page.ids); done || read >= r.m.PerRun {
			return
		}
	}
}

// incremental reads the messages added since the state's history id. It
// reports expired, and does nothing, when Gmail no longer has that
// history.
func (r *run) incremental(ctx context.Context) (expired bool, err error) {
	start, err := strconv.ParseUint(r.st.HistoryID, 10, 64)
	if err != nil {
		return true, nil // not a history id: start over
	}
	page := ""
	for {
		call := r.gmail.Users.History.List("me").StartHistoryId(start).HistoryTypes("messageAdded").
			MaxResults(int64(r.m.PageSize)).Context(ctx)
		if page != "" {
			call = call.PageToken(page)
		}
		res, err := call.Do()
		var ge *googleapi.Error
		if errors.As(err, &ge) && ge.Code == http.StatusNotFound {
			return true, nil
		}
		if err != nil {
			return false, r.gmailErr("list the mailbox's history", err)
		}
		var ids []string
		for _, h := range res.History {
			for _, a := range h.MessagesAdded {
				if a.Message != nil {
					ids = append(ids, a.Message.Id)
				}
			}
			r.st.HistoryID = strconv.FormatUint(h.Id, 10)
		}
		page = res.NextPageToken
		done := page == ""
		if done {
			r.st.HistoryID = strconv.FormatUint(res.HistoryId, 10)
		}
		more, err := r.store(ctx, ids, done, "history:"+r.st.HistoryID)
		if err != nil || !more {
			return false, err
		}
	}
}

// store fetches and stores the messages ids that are not stored yet, and
// records the state, in one transaction; done says the sync is up to
// date. Unless done, when the run has read its share it enqueues a job
// to continue from position, and more is false.
func (r *run) store(ctx context.Context, ids []string, done bool, position string) (more bool, err error) {
	page, err := r.fetchPage(ctx, ids)
	if err != nil {
		return false, err
	}
	return r.commit(ctx, page, done, position)
}

// fetched is a page of listed message ids, and the fields of those of
// them that were not stored yet and could be read.
type fetched struct {
	ids    []string
	fields []email.Fields
}

// fetchPage fetches the messages ids that are not stored yet.
func (r *run) fetchPage(ctx context.Context, ids []string) (fetched, error) {
	ids = slices.Compact(slices.Clone(ids))
	stored, err := r.mails.Stored(ctx, r.p.AccountID, ids)
	if err != nil {
		return fetched{}, err
	}
	var fetch []string
	for _, id := range ids {
		if !stored[id] {
			fetch = append(fetch, id)
		}
	}
	msgs, err := r.fetch(ctx, fetch)
	if err != nil {
		return fetched{}, err
	}
	page := fetched{ids: ids, fields: make([]email.Fields, len(msgs))}
	for i, m := range msgs {
		page.fields[i] = r.fields(m)
	}
	return page, nil
}

// commit stores a fetched page and records the run's state, in one
// transaction, as store says.
func (r *run) commit(ctx context.Context, f fetched, done bool, position string) (more bool, err error) {
	r.read += len(f.ids)
	stop := !done && (r.read >= r.m.PerRun || r.nearDeadline(ctx))
	page := f.fields
	var fresh int
	err = r.queue.InTx(ctx, func(tx *queue.Tx) error {
		// The page in one statement, and one job to extract its new
		// messages in another.
		saved, err := r.mails.SaveAll(ctx, tx, r.p.UserID, page)
		if err != nil {
			return fmt.Errorf("store %d messages: %w", len(page), err)
		}
		var added []uuid.UUID
		for _, e := range saved {
			if e.New {
				added = append(added, e.ID)
			}
		}
		var extract []queue.Payload
		for ids := range slices.Chunk(added, contact.MaxExtractionEmails) {
			extract = append(extract, contact.ExtractionJob{UserID: r.p.UserID, EmailIDs: ids})
		}
		if _, err := tx.EnqueueAll(ctx, extract); err != nil {
			return err
		}
		fresh = len(added)
		if stop {
			next := email.SyncJob{UserID: r.p.UserID, AccountID: r.p.AccountID}
			if _, err := tx.Enqueue(ctx, next, queue.Singleton(email.ContinueKey(r.p.AccountID, position))); err != nil {
				return err
			}
		}
		return r.syncs.Save(ctx, tx, r.st, done)
	})
	if err != nil {
		return false, err
	}
	r.d.Log.DebugContext(ctx, "mail stored", "account_id", r.p.AccountID, "listed", len(f.ids), "new", fresh, "done", done, "continued", stop)
	return !done && !stop, nil
}

// nearDeadline reports whether the invocation has too little time left
// for another page.
func (r *run) nearDeadline(ctx context.Context) bool {
	dl, ok := ctx.Deadline()
	return ok && time.Until(dl) < r.fn.Timeout/3
}

// fetch reads the metadata of messages ids, batchSize in each batch
// request. Messages deleted since they were listed, drafts and spam are
// left out. A call Gmail refused with 401 is made again on its own, so
// that the client renews the access token.
func (r *run) fetch(ctx context.Context, ids []string) ([]*gmail.Message, error) {
	out := make([]*gmail.Message, len(ids))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(batchConcurrency)
	for from := 0; from < len(ids); from += batchSize {
		chunk := ids[from:min(from+batchSize, len(ids))]
		g.Go(func() error {
			msgs, unauthorized, err := r.batch.get(gctx, chunk)
			if err != nil {
				return r.gmailErr("read messages", err)
			}
			for _, id := range unauthorized {
				m, err := r.get(gctx, id)
				if err != nil {
					return err
				}
				msgs[slices.Index(chunk, id)] = m
			}
			copy(out[from:], msgs)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return slices.DeleteFunc(out, func(m *gmail.Message) bool {
		return m == nil || slices.ContainsFunc(m.LabelIds, func(l string) bool { return slices.Contains(skippedLabels, l) })
	}), nil
}

// get reads the metadata of message id on its own; nil when Gmail no
// longer has it.
func (r *run) get(ctx context.Context, id string) (*gmail.Message, error) {
	m, err := r.gmail.Users.Messages.Get("me", id).Format("metadata").MetadataHeaders(syncedHeaders...).Context(ctx).Do()
	var ge *googleapi.Error
	if errors.As(err, &ge) && ge.Code == http.StatusNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, r.gmailErr("read a message", err)
	}
	return m, nil
}

// fields are the columns of a Gmail message.
func (r *run) fields(m *gmail.Message) email.Fields {
	account := r.p.AccountID
	f := email.Fields{
		AccountID: &account, ProviderID: m.Id, ThreadID: m.ThreadId, Mailbox: r.mailbox,
		Snippet: html.UnescapeString(m.Snippet), Labels: m.LabelIds, Headers: map[string]string{},
	}
	if m.InternalDate > 0 {
		t := time.UnixMilli(m.InternalDate).UTC()
		f.ReceivedAt = &t
	}
	if m.Payload == nil {
		return f
	}
	text := map[string]*string{
		"from": &f.From, "to": &f.To, "cc": &f.Cc, "bcc": &f.Bcc, "reply-to": &f.ReplyTo,
		"subject": &f.Subject, "message-id": &f.MessageID,
	}
	for _, h := range m.Payload.Headers {
		name := strings.ToLower(h.Name)
		if dst, ok := text[name]; ok {
			*dst = h.Value
			continue
		}
		switch {
		case name == "date":
			if t, err := parseDate(h.Value); err == nil {
				t = t.UTC()
				f.SentAt = &t
			}
		case slices.Contains(ruleHeaders, name):
			f.Headers[name] = h.Value
		}
	}
	return f
}

// parseDate parses a Date header as mail.ParseDate does, trying first
// the layout most mail uses, which mail.ParseDate only reaches after
// failing several others, each failure an allocated error.
func parseDate(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC1123Z, v); err == nil {
		return t, nil
	}
	return mail.ParseDate(v)
}

// gmailErr says what failed (see google.APIError).
func (r *run) gmailErr(what string, err error) error {
	return google.APIError(google.Gmail, r.p.AccountID, "Gmail is limiting requests; the sync will resume shortly", what, err)
}
