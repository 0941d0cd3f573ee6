package user_test

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/personalcrm/core/shared/domain/user"
	"github.com/personalcrm/core/shared/testkit"
)

// heapWatcher is a file that notes, every step bytes written, the live
// heap after a collection: what the export holds while it writes.
type heapWatcher struct {
	f          *os.File
	n, next    int
	step       int
	base, peak uint64
}

func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func (w *heapWatcher) Write(b []byte) (int, error) {
	n, err := w.f.Write(b)
	w.n += n
	if w.n >= w.next {
		w.next = w.n + w.step
		if h := liveHeap(); h > w.peak {
			w.peak = h
		}
	}
	return n, err
}

// TestExportHoldsLittleInMemory exports a person with tens of megabytes
// of mail: the document is whole, and the live heap while it is written
// stays a small fraction of its size.
func TestExportHoldsLittleInMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes tens of megabytes")
	}
	pool := testkit.DB(t)
	ctx := context.Background()
	alice, _ := testkit.User(t, pool, "alice@example.com")
	bob, _ := testkit.User(t, pool, "bob@example.com")
	const emails, contacts = 20000, 5000
	for _, q := range []string{
		`insert into emails (id, user_id, provider_id, subject, body_text, sent_at)
			select gen_random_uuid(), $1, 'm' || i, 'Subject ' || i, repeat('Lorem ipsum dolor sit amet. ', 40), now() - i * interval '1 minute'
			from generate_series(1, 20000) as i`,
		`insert into contacts (id, user_id, email, name)
			select gen_random_uuid(), $1, 'friend' || i || '@example.org', 'Friend ' || i from generate_series(1, 5000) as i`,
	} {
		for _, u := range []any{alice, bob} {
			if _, err := pool.Exec(ctx, q, u); err != nil {
				t.Fatal(err)
			}
		}
	}

	f, err := os.Create(filepath.Join(t.TempDir(), "export.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := &heapWatcher{f: f, step: 1 << 20}
	w.base = liveHeap()
	w.peak = w.base
	opened := 0
	err = user.NewData(pool, nil).Export(ctx, alice, func() io.Writer { opened++; return w })
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	if opened != 1 {
		t.Fatalf("export opened its writer %d times, want once", opened)
	}
	growth := int64(w.peak) - int64(w.base)
	t.Logf("document %d bytes; live heap grew at most %d bytes while writing it", w.n, growth)
	if w.n < 20<<20 {
		t.Fatalf("document of %d bytes, want over 20 MiB", w.n)
	}
	if growth > int64(w.n)/8 {
		t.Errorf("live heap grew by %d bytes for a %d-byte document", growth, w.n)
	}

	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	var doc user.Export
	if err := json.NewDecoder(f).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if doc.User.ID != alice || len(doc.Emails) != emails || len(doc.Contacts) != contacts {
		t.Errorf("document of %s: %d emails, %d contacts", doc.User.ID, len(doc.Emails), len(doc.Contacts))
	}
	for _, e := range doc.Emails {
		if e.Subject == nil || e.BodyText == nil {
			t.Fatalf("email %+v", e)
		}
	}
}

// TestExportOfNoOne answers NotFound before anything is written.
func TestExportOfNoOne(t *testing.T) {
	t.Parallel()
	pool := testkit.DB(t)
	alice, _ := testkit.User(t, pool, "alice@example.com")
	pool.Exec(context.Background(), `delete from users where id = $1`, alice)
	opened := false
	err := user.NewData(pool, nil).Export(context.Background(), alice, func() io.Writer { opened = true; return io.Discard })
	if err == nil || opened {
		t.Fatalf("export of a deleted user: %v, opened %v", err, opened)
	}
}
