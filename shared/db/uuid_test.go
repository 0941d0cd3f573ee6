package db_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/testkit"
)

// TestUUIDs: uuid.UUID reads and writes directly as PostgreSQL's uuid, in
// every form the code uses: a parameter compared with uuid and text,
// arrays, NULL into a pointer, uuid.NullUUID or uuid.UUID, and the text
// form.
func TestUUIDs(t *testing.T) {
	pool := testkit.DB(t)
	ctx := context.Background()
	id := uuid.MustParse("0192a000-0000-7000-8000-0000000000ab")
	var got uuid.UUID
	var text string
	if err := pool.QueryRow(ctx, `select $1::uuid, $1::text`, id).Scan(&got, &text); err != nil {
		t.Fatal(err)
	}
	if got != id || text != id.String() {
		t.Errorf("round trip: %s %q, want %s", got, text, id)
	}
	var same bool
	if err := pool.QueryRow(ctx, `select $1 = '0192a000-0000-7000-8000-0000000000ab'::text`, id).Scan(&same); err != nil || !same {
		t.Errorf("compared with text: %v %v", same, err)
	}
	var ids []uuid.UUID
	if err := pool.QueryRow(ctx, `select array[$1::uuid, gen_random_uuid()]`, id).Scan(&ids); err != nil || len(ids) != 2 || ids[0] != id {
		t.Errorf("array: %v %v", ids, err)
	}
	var p *uuid.UUID
	var nu uuid.NullUUID
	if err := pool.QueryRow(ctx, `select null::uuid, null::uuid`).Scan(&p, &nu); err != nil || p != nil || nu.Valid {
		t.Errorf("NULL: %v %v %v", p, nu, err)
	}
	// As uuid.UUID's sql.Scanner does, NULL leaves a uuid.UUID as it is.
	if err := pool.QueryRow(ctx, `select null::uuid`).Scan(&got); err != nil || got != id {
		t.Errorf("NULL into uuid.UUID: %s %v", got, err)
	}
	if err := pool.QueryRow(ctx, `select $1::uuid`, &id).Scan(&p); err != nil || p == nil || *p != id {
		t.Errorf("pointer: %v %v", p, err)
	}
}
