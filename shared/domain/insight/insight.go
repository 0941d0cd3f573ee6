// Package insight holds the rules of AI analysis: the analysis types (what
// each takes, what it tells the model and what answer it accepts), the
// insights the ai-analysis job stores, once per job, and the requests
// that enqueue that job. It knows no model's client: it builds prompts and
// checks answers.
package insight

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/queue"
)

// Insight is the stored result of one analysis.
type Insight struct {
	ID        uuid.UUID  `db:"id"`
	UserID    uuid.UUID  `db:"user_id"`
	ContactID *uuid.UUID `db:"contact_id"`
	Type      string     `db:"type"`
	// JobID is the ai-analysis job that produced it.
	JobID uuid.UUID `db:"job_id"`
	// Model is the model that answered.
	Model string `db:"model"`
	// Content is the structured result, a JSON object of the type's shape
	// (Summary for contact-summary).
	Content   json.RawMessage `db:"content"`
	CreatedAt time.Time       `db:"created_at"`
}

// Store is the database the service works on.
type Store interface {
	db.Querier
}

// Service manages insights and analysis requests. Every method takes the
// acting user and only ever sees that user's data: another user's contact
// or insight is NotFound.
type Service struct {
	db    Store
	table *db.Table[Insight]
	queue *queue.Queue
}

// NewService returns the insight service on store; requests are enqueued
// on q (nil for a service that only reads and stores insights).
func NewService(store Store, q *queue.Queue) *Service {
	return &Service{db: store, table: db.NewTable[Insight]("ai_insights", "insight"), queue: q}
}

// Request is a request for an analysis, as a client sends it.
type Request struct {
	Type      string
	ContactID *uuid.UUID
	// Data are the type's options, a JSON object; may be empty.
	Data json.RawMessage
}

// Request enqueues an ai-analysis job for the user and returns it. While
// an analysis of the same type and contact waits or runs, it is returned
// instead. Errors: Invalid, per field (type, contactId, data.<option>);
// NotFound (contactId is not the user's contact).
func (s *Service) Request(ctx context.Context, userID uuid.UUID, r Request) (queue.Job, error) {
	t, in, err := Parse(r.Type, r.ContactID, r.Data)
	if err != nil {
		return queue.Job{}, err
	}
	if in.ContactID != nil {
		if err := s.ownContact(ctx, userID, *in.ContactID); err != nil {
			return queue.Job{}, err
		}
	}
	var j queue.Job
	err = s.queue.InTx(ctx, func(tx *queue.Tx) error {
		var err error
		j, err = tx.Enqueue(ctx, AnalysisJob{UserID: userID, Type: t.Name, Data: in.Data()}, queue.Singleton(RequestKey(userID, t.Name, in.ContactID)))
		return err
	})
	return j, err
}

// ownContact checks that contactID is one of the user's contacts.
// Errors: NotFound.
func (s *Service) ownContact(ctx context.Context, userID, contactID uuid.UUID) error {
	return db.Owned(ctx, s.db, "contacts", "contact", userID, contactID)
}

// RequestKey is the singleton key of a user's analyses of one type (and
// contact): one waits or runs at a time.
func RequestKey(userID uuid.UUID, typeName string, contactID *uuid.UUID) string {
	key := "user:" + userID.String() + ":" + typeName
	if contactID != nil {
		key += ":contact:" + contactID.String()
	}
	return key
}

// Prompt gathers what the model is told for an analysis of t with in,
// from userID's data only. Errors: NotFound (the contact is not the
// user's, or is gone).
func (s *Service) Prompt(ctx context.Context, userID uuid.UUID, t Type, in Input) (Prompt, error) {
	return t.prompt(ctx, s, userID, in)
}

// Check validates the model's answer to an analysis of t and returns the
// insight's content. Its error says what is wrong without quoting the
// answer.
func (t Type) Check(answer string) (json.RawMessage, error) { return t.check(answer) }

// ByJob returns the user's insight produced by jobID. Errors: NotFound.
func (s *Service) ByJob(ctx context.Context, userID, jobID uuid.UUID) (Insight, error) {
	return s.table.Scan(s.db.Query(ctx, "select "+s.table.Columns()+" from ai_insights where user_id = $1 and job_id = $2", userID, jobID))
}

// Save stores in under a new id, once per job: when the job has stored
// its insight already, that one is returned and stored is false. Errors:
// NotFound (the user or contact is gone).
func (s *Service) Save(ctx context.Context, in Insight) (out Insight, stored bool, err error) {
	id, err := uuid.NewV7()
	if err != nil {
		return Insight{}, false, err
	}
	// JSON text: statements are not described first (see db.Open), so
	// the database reads it as the column's jsonb.
	rows, err := s.db.Query(ctx, `insert into ai_insights (id, user_id, contact_id, type, job_id, model, content)
		values ($1, $2, $3, $4, $5, $6, $7) on conflict (job_id) do nothing
		returning `+s.table.Columns(), id, in.UserID, in.ContactID, in.Type, in.JobID, in.Model, string(in.Content))
	if err != nil {
		return Insight{}, false, db.Err(err, "insight")
	}
	out, err = pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Insight])
	if errors.Is(err, pgx.ErrNoRows) {
		out, err = s.ByJob(ctx, in.UserID, in.JobID)
		return out, false, err
	}
	if err != nil {
		return Insight{}, false, db.Err(err, "insight")
	}
	return out, true, nil
}

// Limits of a list page.
const (
	DefaultLimit = 20
	MaxLimit     = 100
)

// Cursor is a position in the list order.
type Cursor struct {
	At time.Time `json:"t"`
	ID uuid.UUID `json:"i"`
}

// Query selects a page of insights.
type Query struct {
	// ContactID keeps the insights about one of the user's contacts.
	ContactID *uuid.UUID
	Limit     int
	// After continues from a previous page.
	After *Cursor
}

// Page is one page of insights; Next is nil on the last page.
type Page struct {
	Items []Insight
	Next  *Cursor
}

// List returns a page of the user's insights, newest first. Errors:
// Invalid (limit out of range); NotFound (ContactID is not one of the
// user's contacts).
func (s *Service) List(ctx context.Context, userID uuid.UUID, q Query) (Page, error) {
	var err error
	if q.Limit, err = db.PageLimit(q.Limit, DefaultLimit, MaxLimit); err != nil {
		return Page{}, err
	}
	args := []any{userID, q.Limit + 1}
	sql := "select " + s.table.Columns() + " from ai_insights where user_id = $1"
	if q.ContactID != nil {
		if err := s.ownContact(ctx, userID, *q.ContactID); err != nil {
			return Page{}, err
		}
		args = append(args, *q.ContactID)
		sql += fmt.Sprintf(" and contact_id = $%d", len(args))
	}
	if q.After != nil {
		args = append(args, q.After.At, q.After.ID)
		sql += fmt.Sprintf(" and (created_at, id) < ($%d, $%d)", len(args)-1, len(args))
	}
	sql += " order by created_at desc, id desc limit $2"
	items, err := s.table.ScanAll(s.db.Query(ctx, sql, args...))
	if err != nil {
		return Page{}, err
	}
	page := Page{Items: items}
	if len(items) > q.Limit {
		page.Items = items[:q.Limit]
		last := page.Items[q.Limit-1]
		page.Next = &Cursor{At: last.CreatedAt, ID: last.ID}
	}
	return page, nil
}
