package db_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/personalcrm/core/shared/testkit"
)

// TestScansAsPgx: the pool's scans into *time.Time and into the pointers
// of nullable columns read what pgx's own plans read, values, NULLs,
// locations and errors alike, in the text format the pool's statements
// use and in binary.
func TestScansAsPgx(t *testing.T) {
	d := testkit.NewDatabase(t)
	pool := d.Pool(t)
	ctx := context.Background()
	plain, err := pgx.Connect(ctx, d.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { plain.Close(context.Background()) })

	const values = `select 'a'::text, null::text, 'v'::varchar, null::varchar, true, null::bool,
		'2026-03-04 05:06:07.123456+02'::timestamptz, null::timestamptz, '1999-12-31 23:59:59Z'::timestamptz`
	binary := pgx.QueryResultFormats{pgx.BinaryFormatCode, pgx.BinaryFormatCode, pgx.BinaryFormatCode, pgx.BinaryFormatCode,
		pgx.BinaryFormatCode, pgx.BinaryFormatCode, pgx.BinaryFormatCode, pgx.BinaryFormatCode, pgx.BinaryFormatCode}
	for _, tc := range []struct {
		name string
		args []any
	}{{"text", nil}, {"binary", []any{binary}}} {
		t.Run(tc.name, func(t *testing.T) {
			var got, want scanRow
			if err := pool.QueryRow(ctx, values, tc.args...).Scan(got.targets()...); err != nil {
				t.Fatal(err)
			}
			if err := plain.QueryRow(ctx, values, append([]any{pgx.QueryExecModeExec}, tc.args...)...).Scan(want.targets()...); err != nil {
				t.Fatal(err)
			}
			if got.Text == nil || got.At == nil || got.NoText != nil || got.NoAt != nil {
				t.Fatalf("values and NULLs not told apart: %+v", got)
			}
			if diff := cmp.Diff(want.describe(), got.describe()); diff != "" {
				t.Errorf("pool (-pgx +pool):\n%s", diff)
			}
		})
	}

	// Planned once per connection, not per column of each query.
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	m := conn.Conn().TypeMap()
	for _, c := range []struct {
		oid    uint32
		target any
	}{
		{pgtype.TextOID, new(*string)}, {pgtype.VarcharOID, new(*string)}, {pgtype.BoolOID, new(*bool)},
		{pgtype.TimestamptzOID, new(*time.Time)}, {pgtype.TimestamptzOID, new(time.Time)},
	} {
		if m.PlanScan(c.oid, pgtype.TextFormatCode, c.target) != m.PlanScan(c.oid, pgtype.TextFormatCode, c.target) {
			t.Errorf("%T from oid %d planned again", c.target, c.oid)
		}
	}

	for _, q := range []string{`select null::timestamptz`, `select 'infinity'::timestamptz`, `select '-infinity'::timestamptz`} {
		var got, want time.Time
		gotErr := pool.QueryRow(ctx, q).Scan(&got)
		wantErr := plain.QueryRow(ctx, q, pgx.QueryExecModeExec).Scan(&want)
		if gotErr == nil || wantErr == nil || gotErr.Error() != wantErr.Error() {
			t.Errorf("%s into time.Time: error %v, pgx's %v", q, gotErr, wantErr)
		}
	}
}

type scanRow struct {
	Text, NoText, Varchar, NoVarchar *string
	Bool, NoBool                     *bool
	At, NoAt                         *time.Time
	Time                             time.Time
}

func (r *scanRow) targets() []any {
	return []any{&r.Text, &r.NoText, &r.Varchar, &r.NoVarchar, &r.Bool, &r.NoBool, &r.At, &r.NoAt, &r.Time}
}

// describe shows every field, a time with its location: times equal as
// instants but in other locations differ.
func (r *scanRow) describe() []string {
	return []string{
		show(r.Text), show(r.NoText), show(r.Varchar), show(r.NoVarchar), show(r.Bool), show(r.NoBool),
		show(r.At), show(r.NoAt), show(&r.Time),
	}
}

func show[T any](p *T) string {
	if p == nil {
		return "nil"
	}
	if t, ok := any(*p).(time.Time); ok {
		return t.Format(time.RFC3339Nano) + " " + t.Location().String()
	}
	return fmt.Sprintf("%#v", *p)
}
