// Package calendarsync is the calendar-sync job: it reads a Google
// account's primary calendar through the Calendar API into meetings. It
// is a package of its own so that only the calendar-sync function (and
// the local server) links the Calendar client.
//
// The first sync of an account, and one asked as Full, lists the events
// of a window from Back before to Ahead after its start, occurrences of
// recurring events one by one, a page per transaction; the page token is
// kept after each page, so a run cut short by its deadline or a quota
// resumes where it stopped. It ends with Google's sync token, and later
// syncs read the changes since; when Google no longer has them (410
// Gone) the sync starts over in full. Events still to come are stored
// with their guests, and become meetings (and interactions with their
// contacts) at the first sync after they end.
package calendarsync

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"google.golang.org/api/calendar/v3"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/domain/contact"
	"github.com/personalcrm/core/shared/domain/email"
	"github.com/personalcrm/core/shared/domain/meeting"
	"github.com/personalcrm/core/shared/google"
	"github.com/personalcrm/core/shared/logging"
	"github.com/personalcrm/core/shared/platform"
	"github.com/personalcrm/core/shared/queue"
	"github.com/personalcrm/core/shared/queue/sqsqueue"
	"github.com/personalcrm/core/shared/queue/worker"
)

// Options are what calendar-sync needs besides the workers' dependencies.
type Options struct {
	Google *google.Client
	Tokens *google.Tokens
	// PageSize is how many events one list call asks for; default
	// DefaultPageSize.
	PageSize int
	// Back and Ahead bound the window of a full sync around its start;
	// defaults DefaultBack and DefaultAhead.
	Back, Ahead time.Duration
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Policy decides which guests become contacts, as it does for mail;
	// the zero Policy is email.DefaultIgnore's.
	Policy email.Policy
}

// Defaults of Options.
const (
	DefaultPageSize = 250
	DefaultBack     = 365 * 24 * time.Hour
	DefaultAhead    = 92 * 24 * time.Hour
)

// limited is the message of a sync Google is rate limiting.
const limited = "Google Calendar is limiting requests; the sync will resume shortly"

// notMeetings are the event types that are never meetings.
var notMeetings = map[string]bool{"outOfOffice": true, "focusTime": true, "workingLocation": true, "birthday": true}

var errNotConfigured = errors.New("calendar-sync has no Google client or token store")

// FromConfig builds the Options from the configuration. It does no I/O.
// Errors: a bad TOKEN_KEYS or Google configuration.
func FromConfig(cfg *config.Config, store google.Store) (Options, error) {
	g, tokens, err := google.TokensFromConfig(cfg, store)
	return Options{Google: g, Tokens: tokens, Policy: email.WithIgnore(cfg.ExtractIgnore...)}, err
}

// New builds the calendar-sync worker of app's function: Google and the
// token store as configured, SQS as the queue. Errors: those of
// FromConfig.
func New(app *platform.App) (*worker.Worker, error) {
	o, err := FromConfig(app.Config, app.DB)
	if err != nil {
		return nil, err
	}
	return Worker(worker.DepsOf(app, sqsqueue.For(app)), o), nil
}

type syncer struct {
	d        worker.Deps
	o        Options
	fn       catalog.Function
	meetings *meeting.Service
	queue    *queue.Queue
}

// Worker syncs one Google account's calendar into meetings. Runs of one
// account never overlap, and running one twice changes nothing more.
func Worker(d worker.Deps, o Options) *worker.Worker {
	fn := catalog.MustLookup(catalog.CalendarSync)
	if o.PageSize <= 0 {
		o.PageSize = DefaultPageSize
	}
	if o.Back <= 0 {
		o.Back = DefaultBack
	}
	if o.Ahead <= 0 {
		o.Ahead = DefaultAhead
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if d.Log == nil {
		d.Log = logging.Discard()
	}
	q := queue.New(d.DB, d.Backend, d.Log)
	contacts := contact.NewService(d.DB, contact.WithCache(d.Cache))
	s := &syncer{d: d, o: o, fn: fn, meetings: meeting.NewService(d.DB, contacts, o.Policy, q), queue: q}
	return worker.New(fn, d.DB, d.Backend, s.run, d.Options())
}

// run is one run of a sync.
type run struct {
	*syncer
	p   meeting.SyncJob
	cal *calendar.Service
	st  meeting.SyncState
	own []string
	// changed says contacts changed: the cache is invalidated at the end.
	changed bool
}

func (s *syncer) run(ctx context.Context, job queue.Job, p meeting.SyncJob) error {
	if s.o.Google == nil || s.o.Tokens == nil {
		return errNotConfigured
	}
	st, err := s.meetings.Acquire(ctx, p.UserID, p.AccountID, s.fn.Timeout+time.Minute)
	if err != nil {
		return err
	}
	defer s.meetings.Release(context.WithoutCancel(ctx), p.AccountID)
	r := &run{syncer: s, p: p, st: st}
	err = r.sync(ctx)
	if r.changed {
		s.meetings.Changed(context.WithoutCancel(ctx), p.UserID)
	}
	var ungranted *google.NotGrantedError
	if errors.As(err, &ungranted) {
		// The schedule stops enqueueing calendar syncs of the account
		// until its person grants the calendar again.
		if uerr := s.o.Tokens.Ungrant(context.WithoutCancel(ctx), p.UserID, p.AccountID, google.Calendar); uerr != nil {
			s.d.Log.WarnContext(ctx, "account without calendar not recorded", "account_id", p.AccountID, "err", uerr)
		}
	}
	return err
}

func (r *run) sync(ctx context.Context) error {
	if _, err := r.o.Tokens.Token(ctx, r.p.UserID, r.p.AccountID); err != nil {
		var off *google.DisconnectedError
		if errors.As(err, &off) {
			r.d.Log.InfoContext(ctx, "account disconnected; no calendar to sync", "account_id", r.p.AccountID)
			return nil
		}
		return fmt.Errorf("token of account %s: %w", r.p.AccountID, err)
	}
	client := r.o.Google.APIClient(ctx, r.o.Tokens, r.p.UserID, r.p.AccountID)
	svc, err := calendar.NewService(ctx, option.WithHTTPClient(client), option.WithEndpoint(r.o.Google.Endpoints().Calendar+"calendar/v3/"))
	if err != nil {
		return fmt.Errorf("calendar client: %w", err)
	}
	r.cal = svc
	if r.own, err = r.meetings.Own(ctx, r.p.UserID); err != nil {
		return err
	}
	if (r.p.Full && r.st.Status != meeting.StatusFull) || r.st.Status == meeting.StatusNew || (r.st.Status == meeting.StatusSynced && r.st.SyncToken == "") {
		r.startFull()
	}
	if r.st.Status == meeting.StatusSynced {
		expired, err := r.incremental(ctx)
		if err != nil || !expired {
			return err
		}
		r.d.Log.InfoContext(ctx, "calendar sync token expired; syncing in full", "account_id", r.p.AccountID)
		r.startFull()
	}
	return r.full(ctx)
}

func (r *run) startFull() {
	now := r.o.Now().UTC()
	start, end := now.Add(-r.o.Back), now.Add(r.o.Ahead)
	r.st.Status, r.st.PageToken, r.st.WindowStart, r.st.WindowEnd = meeting.StatusFull, "", &start, &end
	r.st.Generation++
}

// full lists the window's events from the state's page on.
func (r *run) full(ctx context.Context) error {
	for {
		call := r.cal.Events.List("primary").SingleEvents(true).ShowDeleted(false).MaxResults(int64(r.o.PageSize)).
			TimeMin(r.st.WindowStart.Format(time.RFC3339)).TimeMax(r.st.WindowEnd.Format(time.RFC3339)).Context(ctx)
		if r.st.PageToken != "" {
			call = call.PageToken(r.st.PageToken)
		}
		res, err := call.Do()
		if err != nil {
			return r.apiErr("list the calendar's events", err)
		}
		done := res.NextPageToken == ""
		r.st.PageToken = res.NextPageToken
		page := r.page(res.Items)
		page.Full = true
		if done {
			r.st.Status, r.st.SyncToken = meeting.StatusSynced, res.NextSyncToken
			page.Sweep, page.WindowStart, page.WindowEnd = true, *r.st.WindowStart, *r.st.WindowEnd
		}
		more, err := r.store(ctx, page, done, fmt.Sprintf("full:%d:%s", r.st.Generation, res.NextPageToken))
		if err != nil || !more {
			return err
		}
	}
}

// incremental reads what changed since the state's sync token. It
// reports expired, and does nothing, when Google no longer has it.
func (r *run) incremental(ctx context.Context) (expired bool, err error) {
	page := ""
	for {
		call := r.cal.Events.List("primary").SingleEvents(true).SyncToken(r.st.SyncToken).MaxResults(int64(r.o.PageSize)).Context(ctx)
		if page != "" {
			call = call.PageToken(page)
		}
		res, err := call.Do()
		var ge *googleapi.Error
		if errors.As(err, &ge) && ge.Code == http.StatusGone {
			return true, nil
		}
		if err != nil {
			return false, r.apiErr("list the calendar's changes", err)
		}
		page = res.NextPageToken
		done := page == ""
		position := "sync:" + r.st.SyncToken
		if done {
			r.st.SyncToken = res.NextSyncToken
		}
		more, err := r.store(ctx, r.page(res.Items), done, position)
		if err != nil || !more {
			return false, err
		}
	}
}

// store applies a page of events and records the state in one
// transaction; done says the sync is up to date. Unless done, when the
// invocation nears its deadline it enqueues a job to continue from
// position, and more is false.
func (r *run) store(ctx context.Context, page meeting.Page, done bool, position string) (more bool, err error) {
	stop := !done && r.nearDeadline(ctx)
	var applied meeting.Applied
	err = r.queue.InTx(ctx, func(tx *queue.Tx) error {
		var err error
		if applied, err = r.meetings.Apply(ctx, tx, page); err != nil {
			return err
		}
		if stop {
			next := meeting.SyncJob{UserID: r.p.UserID, AccountID: r.p.AccountID}
			if _, err := tx.Enqueue(ctx, next, queue.Singleton(meeting.ContinueKey(r.p.AccountID, position))); err != nil {
				return err
			}
		}
		return r.meetings.SaveState(ctx, tx, r.st, done)
	})
	if err != nil {
		return false, err
	}
	r.changed = r.changed || applied.Linked > 0 || applied.Recounted > 0 || applied.Removed > 0
	r.d.Log.DebugContext(ctx, "calendar page stored", "account_id", r.p.AccountID, "events", len(page.Events),
		"stored", applied.Stored, "removed", applied.Removed, "linked", applied.Linked, "done", done, "continued", stop)
	return !done && !stop, nil
}

// page is a page of items to apply.
func (r *run) page(items []*calendar.Event) meeting.Page {
	events := make([]meeting.Event, 0, len(items))
	for _, it := range items {
		events = append(events, toEvent(it))
	}
	return meeting.Page{UserID: r.p.UserID, AccountID: r.p.AccountID, Events: events, Own: r.own, Now: r.o.Now(), Generation: r.st.Generation}
}

// nearDeadline reports whether the invocation has too little time left
// for another page.
func (r *run) nearDeadline(ctx context.Context) bool {
	dl, ok := ctx.Deadline()
	return ok && time.Until(dl) < r.fn.Timeout/3
}

// apiErr says what failed (see google.APIError).
func (r *run) apiErr(what string, err error) error {
	return google.APIError(google.Calendar, r.p.AccountID, limited, what, err)
}

// toEvent reads a Google Calendar event. Event types that are not
// meetings (out of office, focus time...) read as cancelled.
func toEvent(it *calendar.Event) meeting.Event {
	e := meeting.Event{GoogleID: it.Id, RecurringID: it.RecurringEventId, Title: it.Summary, Location: it.Location, Status: it.Status}
	if notMeetings[it.EventType] {
		e.Status = "cancelled"
	}
	if it.Start != nil {
		e.Start, e.AllDay = eventTime(it.Start)
	}
	if it.End != nil {
		e.End, _ = eventTime(it.End)
	}
	if it.Organizer != nil {
		e.Organizer = it.Organizer.Email
	}
	if t, err := time.Parse(time.RFC3339, it.Updated); err == nil {
		e.Updated = t
	}
	for _, a := range it.Attendees {
		e.Attendees = append(e.Attendees, meeting.Attendee{Email: a.Email, Name: a.DisplayName, Response: a.ResponseStatus,
			Organizer: a.Organizer, Optional: a.Optional, Self: a.Self, Resource: a.Resource})
	}
	return e
}

// eventTime reads a start or end: a time, or a whole day (midnight UTC).
func eventTime(t *calendar.EventDateTime) (time.Time, bool) {
	if t.DateTime != "" {
		if v, err := time.Parse(time.RFC3339, t.DateTime); err == nil {
			return v.UTC(), false
		}
	}
	if v, err := time.Parse(time.DateOnly, t.Date); err == nil {
		return v, true
	}
	return time.Time{}, false
}
