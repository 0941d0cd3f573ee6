package contacts_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/personalcrm/core/shared/testkit"
)

// TestListByLastInteraction walks every page of two of each order by last
// interaction, and of the contacts the user has been quiet with: each
// contact comes once, in order, ties broken by id; contacts without an
// interaction are left out, and another user's never appear.
func TestListByLastInteraction(t *testing.T) {
	t.Parallel()
	f := setup(t)
	tr := testkit.Transports(f.server)
	ctx := context.Background()
	// Days since the last interaction of each of Alice's contacts; -1 for
	// none. c and d tie.
	ago := map[string]int{"a": 1, "b": 5, "c": 100, "d": 100, "e": 200, "f": 400, "g": -1}
	for _, name := range []string{"a", "b", "c", "d", "e", "f", "g"} {
		c := create(t, tr[0], f.server, f.alice, map[string]any{"name": name})
		if ago[name] >= 0 {
			if _, err := f.pool.Exec(ctx, `update contacts set interaction_count = 1, last_interaction_at = now() - make_interval(days => $2) where id = $1`, c.ID, ago[name]); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, name := range []string{"bob1", "bob2"} {
		c := create(t, tr[0], f.server, f.bob, map[string]any{"name": name})
		if _, err := f.pool.Exec(ctx, `update contacts set interaction_count = 1, last_interaction_at = now() - interval '300 days' where id = $1`, c.ID); err != nil {
			t.Fatal(err)
		}
	}
	var cd, dc []string // the tie, by id either way
	{
		var ids []string
		if err := f.pool.QueryRow(ctx, `select array_agg(name order by id) from contacts where name in ('c', 'd')`).Scan(&ids); err != nil {
			t.Fatal(err)
		}
		cd, dc = ids, []string{ids[1], ids[0]}
	}
	cat := func(parts ...[]string) []string {
		var out []string
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	tests := []struct {
		query string
		want  []string
	}{
		{"sort=lastInteraction", cat([]string{"a", "b"}, dc, []string{"e", "f"})},
		{"sort=lastInteractionAsc", cat([]string{"f", "e"}, cd, []string{"b", "a"})},
		{"quietFor=90", cat([]string{"f", "e"}, cd)},
		{"quietFor=90&sort=lastInteraction", cat(dc, []string{"e", "f"})},
		{"quietFor=150&sort=lastInteractionAsc", []string{"f", "e"}},
		{"quietFor=90&sort=name", []string{"c", "d", "e", "f"}},
		{"quietFor=3650", nil},
		{"sort=name", []string{"a", "b", "c", "d", "e", "f", "g"}},
	}
	for _, tr := range tr {
		for _, tt := range tests {
			t.Run(tr.Name+"/"+tt.query, func(t *testing.T) {
				var got []string
				cursor := ""
				for pages := 0; ; pages++ {
					if pages > 10 {
						t.Fatal("too many pages")
					}
					target := "/v1/contacts?limit=2&" + tt.query
					if cursor != "" {
						target += "&cursor=" + url.QueryEscape(cursor)
					}
					res := tr.Do(t, testkit.Request("GET", target, f.alice, nil))
					var p page
					raw := testkit.ReadJSON(t, res, &p)
					if res.StatusCode != http.StatusOK {
						t.Fatalf("%s: %d %s", target, res.StatusCode, raw)
					}
					for _, c := range p.Items {
						got = append(got, *c.Name)
						if c.LastInteractionAt == nil && tt.query != "sort=name" {
							t.Errorf("%s without an interaction listed", *c.Name)
						}
					}
					if p.NextCursor == nil {
						break
					}
					cursor = *p.NextCursor
				}
				if d := cmp.Diff(tt.want, got); d != "" {
					t.Errorf("order (-want +got):\n%s", d)
				}
			})
		}
	}

	// A cursor of one order is refused by another.
	res := tr[0].Do(t, testkit.Request("GET", "/v1/contacts?limit=2&sort=lastInteraction", f.alice, nil))
	var p page
	testkit.ReadJSON(t, res, &p)
	if p.NextCursor == nil {
		t.Fatal("no next page")
	}
	for _, other := range []string{"sort=lastInteractionAsc", "sort=name", "quietFor=30", ""} {
		target := fmt.Sprintf("/v1/contacts?%s&cursor=%s", other, url.QueryEscape(*p.NextCursor))
		res := tr[0].Do(t, testkit.Request("GET", target, f.alice, nil))
		var env envelope
		raw := testkit.ReadJSON(t, res, &env)
		if res.StatusCode != http.StatusBadRequest || len(env.Error.Fields["cursor"]) == 0 {
			t.Errorf("%s: %d %s", target, res.StatusCode, raw)
		}
	}
}
