package email

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/db"
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
	var err error
	if q.Limit, err = db.PageLimit(q.Limit, DefaultLimit, MaxLimit); err != nil {
		return Page{}, err
	}
	args := []any{userID, q.Limit + 1}
	sql := "select " + s.table.Columns() + " from emails where user_id = $1"
	if q.ContactID != nil {
		if err := db.Owned(ctx, s.db, "contacts", "contact", userID, *q.ContactID); err != nil {
			return Page{}, err
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
