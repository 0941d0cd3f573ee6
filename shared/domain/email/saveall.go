package email

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/errs"
)

// Saved is what SaveAll did with one message.
type Saved struct {
	ID         uuid.UUID `db:"id"`
	ProviderID string    `db:"provider_id"`
	// New reports whether the message was stored now.
	New bool `db:"inserted"`
}

// SaveAll does what Save does for each of fs, a page of synced messages
// of userID's accounts, in one statement in q (the caller's transaction).
// A provider id given twice for one account is saved once, with its
// first fields. It returns one Saved per message saved, in the order of
// fs. Errors: NotFound (no such account or user, or a message another
// user's account holds); an invalid message saves none.
func (s *Service) SaveAll(ctx context.Context, q db.Querier, userID uuid.UUID, fs []Fields) ([]Saved, error) {
	type key struct {
		account  uuid.UUID
		provider string
	}
	seen := map[key]bool{}
	var page []Fields
	for _, f := range fs {
		if f.AccountID == nil || f.ProviderID == "" {
			return nil, errors.New("save emails: a synced message needs its account and provider id")
		}
		k := key{*f.AccountID, f.ProviderID}
		if !seen[k] {
			seen[k] = true
			page = append(page, f)
		}
	}
	if len(page) == 0 {
		return nil, nil
	}
	// One array per column, as text where the statement casts it:
	// statements are not described first (see db.Open).
	n := len(page)
	ids, accounts := make([]string, n), make([]string, n)
	text := map[string][]*string{}
	textCols := []string{"provider_id", "thread_id", "mailbox", "message_id", "subject", "snippet", "body_text",
		"from_header", "to_header", "cc_header", "bcc_header", "reply_to_header"}
	for _, c := range textCols {
		text[c] = make([]*string, n)
	}
	headers, labels := make([]string, n), make([]string, n)
	sent, received := make([]*time.Time, n), make([]*time.Time, n)
	for i, f := range page {
		vals, err := f.values()
		if err != nil {
			return nil, err
		}
		for _, v := range vals {
			switch v.Column {
			case "id":
				ids[i] = v.Value.(uuid.UUID).String()
			case "headers":
				headers[i] = v.Value.(string)
			case "labels":
				b, err := json.Marshal(v.Value)
				if err != nil {
					return nil, err
				}
				labels[i] = string(b)
			case "sent_at":
				sent[i] = f.SentAt
			case "received_at":
				received[i] = f.ReceivedAt
			case "account_id":
				accounts[i] = f.AccountID.String()
			default:
				col, ok := text[v.Column]
				if !ok {
					return nil, fmt.Errorf("save emails: column %s has no array", v.Column)
				}
				col[i] = v.Value.(*string)
			}
		}
	}
	args := []any{userID, ids, accounts}
	marks := make([]string, len(textCols))
	for i, c := range textCols {
		args = append(args, text[c])
		marks[i] = fmt.Sprintf("$%d::text[]", len(args))
	}
	args = append(args, headers, labels, sent, received)
	k := len(args)
	sql := `insert into emails (user_id, id, account_id, ` + strings.Join(textCols, ", ") + `, headers, labels, sent_at, received_at)
		select $1, t.id, t.account_id, t.` + strings.Join(textCols, ", t.") + `, t.headers::jsonb,
			array(select jsonb_array_elements_text(t.labels::jsonb)), t.sent_at, t.received_at
		from unnest($2::uuid[], $3::uuid[], ` + strings.Join(marks, ", ") + fmt.Sprintf(`, $%d::text[], $%d::text[], $%d::timestamptz[], $%d::timestamptz[])`, k-3, k-2, k-1, k) + `
			with ordinality as t(id, account_id, ` + strings.Join(textCols, ", ") + `, headers, labels, sent_at, received_at, n)
		order by t.n
		on conflict (account_id, provider_id) where account_id is not null and provider_id is not null
		do update set labels = excluded.labels, snippet = excluded.snippet, updated_at = now()
			where emails.user_id = excluded.user_id
		returning id, provider_id, account_id, xmax = 0 as inserted`
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, db.Err(err, "email")
	}
	type row struct {
		Saved
		AccountID uuid.UUID `db:"account_id"`
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByName[row])
	if err != nil {
		return nil, db.Err(err, "email")
	}
	if len(got) != n {
		return nil, errs.NotFound("email")
	}
	byKey := make(map[key]Saved, n)
	for _, r := range got {
		byKey[key{r.AccountID, r.ProviderID}] = r.Saved
	}
	out := make([]Saved, n)
	for i, f := range page {
		out[i] = byKey[key{*f.AccountID, f.ProviderID}]
	}
	return slices.Clip(out), nil
}
