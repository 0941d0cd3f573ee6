package db

import (
	"context"
	"fmt"
	"reflect"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/personalcrm/core/shared/errs"
)

// Table reads and writes rows that belong to users. Every statement it
// builds filters by user_id, so a call with another user's row id finds
// nothing (NotFound) and changes nothing.
//
// T's exported fields carry `db:"column"` tags naming the table's columns;
// it must include the columns id and user_id.
type Table[T any] struct {
	name   string
	what   string
	known  map[string]bool
	list   string
	get    string
	delete string
}

// NewTable describes table name, whose rows are called what in errors
// ("contact"). It panics if T lacks db tags for id and user_id: a
// programming error found by the first test.
func NewTable[T any](name, what string) *Table[T] {
	t := reflect.TypeFor[T]()
	var cols []string
	for i := 0; i < t.NumField(); i++ {
		tag := t.Field(i).Tag.Get("db")
		if tag == "" || tag == "-" || !t.Field(i).IsExported() {
			continue
		}
		cols = append(cols, tag)
	}
	known := map[string]bool{}
	for _, c := range cols {
		if !isIdent(c) {
			panic(fmt.Sprintf("db: column %q of %s is not a plain identifier", c, name))
		}
		known[c] = true
	}
	if !known["id"] || !known["user_id"] || !isIdent(name) {
		panic(fmt.Sprintf("db: table %s needs db tags id and user_id", name))
	}
	list := strings.Join(cols, ", ")
	return &Table[T]{
		name:   name,
		what:   what,
		known:  known,
		list:   list,
		get:    "select " + list + " from " + name + " where user_id = $1 and id = $2",
		delete: "delete from " + name + " where user_id = $1 and id = $2",
	}
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// Columns is the select list of T's columns, for hand-written queries.
func (t *Table[T]) Columns() string { return t.list }

// Name is the table's name.
func (t *Table[T]) Name() string { return t.name }

// Scan collects exactly one row of T's columns; no row is NotFound.
func (t *Table[T]) Scan(rows pgx.Rows, err error) (T, error) {
	if err != nil {
		var zero T
		return zero, Err(err, t.what)
	}
	v, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[T])
	return v, Err(err, t.what)
}

// ScanAll collects every row of T's columns.
func (t *Table[T]) ScanAll(rows pgx.Rows, err error) ([]T, error) {
	if err != nil {
		return nil, Err(err, t.what)
	}
	v, err := pgx.CollectRows(rows, pgx.RowToStructByName[T])
	return v, Err(err, t.what)
}

// Get returns the user's row id. Errors: NotFound.
func (t *Table[T]) Get(ctx context.Context, q Querier, userID, id uuid.UUID) (T, error) {
	return t.Scan(q.Query(ctx, t.get, userID, id))
}

// GetForUpdate is Get that locks the row until the transaction q ends.
func (t *Table[T]) GetForUpdate(ctx context.Context, q Querier, userID, id uuid.UUID) (T, error) {
	return t.Scan(q.Query(ctx, t.get+" for update", userID, id))
}

// Delete removes the user's row id. Errors: NotFound.
func (t *Table[T]) Delete(ctx context.Context, q Querier, userID, id uuid.UUID) error {
	tag, err := q.Exec(ctx, t.delete, userID, id)
	if err != nil {
		return Err(err, t.what)
	}
	if tag.RowsAffected() == 0 {
		return Err(pgx.ErrNoRows, t.what)
	}
	return nil
}

// Values are column values for Insert and Update, in order.
type Values []Value

// Value is one column's value.
type Value struct {
	Column string
	Value  any
}

// Set appends a column value.
func (v Values) Set(column string, value any) Values { return append(v, Value{column, value}) }

// check panics on a column T does not have: column names are code, never
// input, so this is a programming error.
func (t *Table[T]) check(vals Values) {
	for _, v := range vals {
		if !t.known[v.Column] || v.Column == "user_id" {
			panic(fmt.Sprintf("db: %s has no writable column %q", t.name, v.Column))
		}
	}
}

// Insert adds a row owned by userID with vals and returns it.
// Errors: Conflict on a unique violation.
func (t *Table[T]) Insert(ctx context.Context, q Querier, userID uuid.UUID, vals Values) (T, error) {
	t.check(vals)
	var b strings.Builder
	args := make([]any, 0, len(vals)+1)
	args = append(args, userID)
	b.WriteString("insert into " + t.name + " (user_id")
	for _, v := range vals {
		b.WriteString(", " + v.Column)
		args = append(args, v.Value)
	}
	b.WriteString(") values ($1")
	for i := range vals {
		fmt.Fprintf(&b, ", $%d", i+2)
	}
	b.WriteString(") returning " + t.list)
	return t.Scan(q.Query(ctx, b.String(), args...))
}

// Update sets vals on the user's row id (and updated_at, when T has it)
// and returns the row. Errors: NotFound, Conflict.
func (t *Table[T]) Update(ctx context.Context, q Querier, userID, id uuid.UUID, vals Values) (T, error) {
	t.check(vals)
	if len(vals) == 0 {
		return t.Get(ctx, q, userID, id)
	}
	var b strings.Builder
	args := make([]any, 0, len(vals)+2)
	args = append(args, userID, id)
	b.WriteString("update " + t.name + " set ")
	for i, v := range vals {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s = $%d", v.Column, i+3)
		args = append(args, v.Value)
	}
	if t.known["updated_at"] {
		b.WriteString(", updated_at = now()")
	}
	b.WriteString(" where user_id = $1 and id = $2 returning " + t.list)
	return t.Scan(q.Query(ctx, b.String(), args...))
}

// ContainsPattern is the LIKE pattern that matches text containing s:
// s's wildcards and escapes are taken literally.
func ContainsPattern(s string) string {
	return "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s) + "%"
}

// Owned checks that the row id of table (a trusted identifier, such as
// "contacts") belongs to the user, for a query that filters by another
// domain's object. Errors: NotFound naming what.
func Owned(ctx context.Context, q Querier, table, what string, userID, id uuid.UUID) error {
	if !isIdent(table) {
		panic("db: table name " + table + " is not an identifier")
	}
	var mine bool
	err := q.QueryRow(ctx, "select exists (select 1 from "+table+" where user_id = $1 and id = $2)", userID, id).Scan(&mine)
	if err != nil {
		return Err(err, what)
	}
	if !mine {
		return errs.NotFound(what)
	}
	return nil
}

// PageLimit is a list's page size: def when limit is zero. Errors: Invalid
// on field "limit" when it is outside 1..max.
func PageLimit(limit, def, max int) (int, error) {
	if limit == 0 {
		return def, nil
	}
	if limit < 1 || limit > max {
		return 0, errs.Field("limit", fmt.Sprintf("must be between 1 and %d", max))
	}
	return limit, nil
}
