package user

import (
	"context"
	"reflect"
	"slices"
	"testing"

	"github.com/personalcrm/core/shared/testkit"
)

// TestExportCoversTheSchema holds the export to the schema: every table
// with a user's rows has a section, and every column of an exported table
// is exported or left out for a stated reason, so that a column added
// later is not silently missing from people's copies of their data.
func TestExportCoversTheSchema(t *testing.T) {
	t.Parallel()
	pool := testkit.DB(t)
	ctx := context.Background()
	exported := map[string][]string{"users": exportColumns(reflect.TypeFor[ExportUser]())}
	types := map[string]reflect.Type{
		"accounts": reflect.TypeFor[ExportAccount](), "sessions": reflect.TypeFor[ExportSession](),
		"contacts": reflect.TypeFor[ExportContact](), "emails": reflect.TypeFor[ExportEmail](),
		"email_contacts": reflect.TypeFor[ExportEmailContact](), "ai_insights": reflect.TypeFor[ExportInsight](),
		"sync_state": reflect.TypeFor[ExportSyncState](), "jobs": reflect.TypeFor[ExportJob](),
		"calendar_events": reflect.TypeFor[ExportCalendarEvent](), "event_contacts": reflect.TypeFor[ExportEventContact](),
		"calendar_sync_state": reflect.TypeFor[ExportCalendarSyncState](),
	}
	for _, s := range exportSections {
		typ, ok := types[s.table]
		if !ok {
			t.Fatalf("section %s of table %s has no type here", s.key, s.table)
		}
		exported[s.table] = exportColumns(typ)
	}

	rows, err := pool.Query(ctx, `select table_name from information_schema.columns
		where table_schema = current_schema() and column_name = 'user_id'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var table string
		rows.Scan(&table)
		if _, ok := exported[table]; !ok {
			t.Errorf("table %s holds users' rows and is not exported", table)
		}
	}
	rows.Close()

	for table, cols := range exported {
		rows, err := pool.Query(ctx, `select column_name from information_schema.columns
			where table_schema = current_schema() and table_name = $1`, table)
		if err != nil {
			t.Fatal(err)
		}
		var schema []string
		for rows.Next() {
			var c string
			rows.Scan(&c)
			schema = append(schema, c)
		}
		rows.Close()
		if len(schema) == 0 {
			t.Errorf("no table %s", table)
		}
		for _, c := range schema {
			_, all := exportLeftOut["*."+c]
			_, left := exportLeftOut[table+"."+c]
			if in := slices.Contains(cols, c); in == (all || left) {
				t.Errorf("%s.%s: exported %v, left out %v; want one of them", table, c, in, all || left)
			}
		}
		for _, c := range cols {
			if !slices.Contains(schema, c) {
				t.Errorf("%s.%s is exported but not in the schema", table, c)
			}
		}
	}
}
