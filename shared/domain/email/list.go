package email

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/errs"
)

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

// Query selects a page of emails.
type Query struct {
	// ContactID keeps the emails exchanged with one of the user's contacts.
	ContactID *uuid.UUID
	// Search matches subject, snippet or sender, case-insensitively,
	// anywhere.
	Search string
	Limit  int
	// After continues from a previous page.
	After *Cursor
}

// Page is one page of emails; Next is nil on the last page.
type Page struct {
	Items []Email
	Next  *Cursor
}

// List returns a page of the user's emails, newest first (by At).
// Errors: Invalid (limit out of range); NotFound (ContactID is not one of
// the user's contacts).
func (s *Service) List(ctx context.Context, userID uuid.UUID, q Query) (Page, error) {
	if q.Limit == 0 {
		q.Limit = DefaultLimit
	}
	if q.Limit < 1 || q.Limit > MaxLimit {
		return Page{}, errs.Field("limit", fmt.Sprintf("must be between 1 and %d", MaxLimit))
	}
	args := []any{userID, q.Limit + 1}
	sql := "select " + s.table.Columns() + " from emails where user_id = $1"
	if q.ContactID != nil {
		var mine bool
		if err := s.db.QueryRow(ctx, `select exists (select 1 from contacts where id = $1 and user_id = $2)`, *q.ContactID, userID).Scan(&mine); err != nil {
			return Page{}, db.Err(err, "contact")
		}
		if !mine {
			return Page{}, errs.NotFound("contact")
		}
		args = append(args, *q.ContactID)
		sql += fmt.Sprintf(" and exists (select 1 from email_contacts ec where ec.email_id = emails.id and ec.contact_id = $%d)", len(args))
	}
	if q.After != nil {
		args = append(args, q.After.At, q.After.ID)
		sql += fmt.Sprintf(" and (sort_at, id) < ($%d, $%d)", len(args)-1, len(args))
	}
	if search := strings.TrimSpace(q.Search); search != "" {
		args = append(args, db.ContainsPattern(search))
		// The expression matches the trigram index emails_search_idx.
		sql += fmt.Sprintf(" and (coalesce(subject, '') || ' ' || coalesce(snippet, '') || ' ' || coalesce(from_header, '')) ilike $%d", len(args))
	}
	sql += " order by sort_at desc, id desc limit $2"
	items, err := s.table.ScanAll(s.db.Query(ctx, sql, args...))
	if err != nil {
		return Page{}, err
	}
	page := Page{Items: items}
	if len(items) > q.Limit {
		page.Items = items[:q.Limit]
		last := page.Items[q.Limit-1]
		page.Next = &Cursor{At: last.SortAt, ID: last.ID}
	}
	return page, nil
}
