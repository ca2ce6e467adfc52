package store

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDB_Put_RoundTripsEveryField(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, &Options{Now: fixedClock(t0)})
	c := fullCert("a.example")
	requireAllSet(t, c, "Revision")
	created := c.Created
	if err := db.Put(ctx, c); err != nil {
		t.Fatal(err)
	}
	if c.Revision == 0 || !c.Updated.Equal(t0) || !c.Created.Equal(created) {
		t.Fatalf("after Put: Revision=%d Updated=%v Created=%v; want non-zero, %v, %v", c.Revision, c.Updated, c.Created, t0, created)
	}
	got, err := db.Get(ctx, "a.example")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Fatalf("Get after Put differs:\n got %+v\nwant %+v", got, c)
	}
	requireAllSet(t, got)

	// Records are the caller's own: changing one does not touch the store.
	got.Domains[0] = "changed"
	again, err := db.Get(ctx, "a.example")
	if err != nil {
		t.Fatal(err)
	}
	if again.Domains[0] != "a.example" {
		t.Fatal("changing a returned record changed the store")
	}
}

func TestDB_Put_SetsCreatedOnce(t *testing.T) {
	ctx := context.Background()
	now := t0
	db := openTest(t, &Options{Now: func() time.Time { return now }})
	c := &Certificate{Name: "a"}
	mustPut(t, db, c)
	if !c.Created.Equal(t0) || !c.Updated.Equal(t0) {
		t.Fatalf("Created=%v Updated=%v, want both %v", c.Created, c.Updated, t0)
	}
	now = t0.Add(time.Hour)
	mustPut(t, db, c)
	got, err := db.Get(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Created.Equal(t0) || !got.Updated.Equal(now) {
		t.Fatalf("second Put: Created=%v Updated=%v, want %v and %v", got.Created, got.Updated, t0, now)
	}
}

func TestDB_Put_ConflictOnStaleRevision(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, nil)
	c := fullCert("a.example")
	mustPut(t, db, c)

	dup := fullCert("a.example") // Revision 0: must not exist yet
	if err := db.Put(ctx, dup); !errors.Is(err, ErrConflict) {
		t.Fatalf("Put of an existing name with revision 0 = %v, want ErrConflict", err)
	}

	a, _ := db.Get(ctx, "a.example")
	b, _ := db.Get(ctx, "a.example")
	a.Renewal.Reason = "writer a"
	mustPut(t, db, a)
	staleRev := b.Revision
	b.Renewal.Reason = "writer b"
	b.Versions = append(b.Versions, testVersion(3), testVersion(4), testVersion(5), testVersion(6))
	err := db.Put(ctx, b)
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("Put with stale revision = %v, want ErrConflict", err)
	}
	if !strings.Contains(err.Error(), "a.example") {
		t.Errorf("error %q does not name the certificate", err)
	}
	if b.Revision != staleRev || len(b.Versions) != 6 {
		t.Errorf("failed Put changed the caller's record: Revision %d->%d, %d versions", staleRev, b.Revision, len(b.Versions))
	}
	got, _ := db.Get(ctx, "a.example")
	if got.Renewal.Reason != "writer a" {
		t.Fatalf("stored Reason = %q, want the first writer's", got.Renewal.Reason)
	}

	// Deleted meanwhile: a stale revision conflicts too.
	if err := db.Delete(ctx, "a.example"); err != nil {
		t.Fatal(err)
	}
	if err := db.Put(ctx, got); !errors.Is(err, ErrConflict) {
		t.Fatalf("Put after Delete with old revision = %v, want ErrConflict", err)
	}
}

func TestDB_Put_TrimsVersionsKeepingActive(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, nil)
	c := &Certificate{Name: "a", Active: 2}
	for i := 1; i <= 8; i++ {
		c.Versions = append(c.Versions, testVersion(i))
	}
	mustPut(t, db, c)
	want := []int{2, 5, 6, 7, 8}
	if got := seqs(c); !slices.Equal(got, want) {
		t.Fatalf("caller's versions after Put: %v, want %v", got, want)
	}
	got, _ := db.Get(ctx, "a")
	if s := seqs(got); !slices.Equal(s, want) || got.ActiveVersion().Seq != 2 {
		t.Fatalf("stored versions %v active %d, want %v active 2", s, got.Active, want)
	}
}

func TestDB_Put_RejectsInvalidRecords(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, nil)
	for _, name := range []string{"", "/", "..", "../../etc/passwd", strings.Repeat("x", 256)} {
		if err := db.Put(ctx, &Certificate{Name: name}); !errors.Is(err, ErrInvalidName) {
			t.Errorf("Put(%q) = %v, want ErrInvalidName", name, err)
		}
		if _, err := db.Get(ctx, name); !errors.Is(err, ErrInvalidName) {
			t.Errorf("Get(%q) = %v, want ErrInvalidName", name, err)
		}
		if _, err := db.Lock(ctx, name); !errors.Is(err, ErrInvalidName) {
			t.Errorf("Lock(%q) = %v, want ErrInvalidName", name, err)
		}
	}
	if err := db.Put(ctx, &Certificate{Name: "a", Active: 1}); !errors.Is(err, ErrInvalidRecord) {
		t.Errorf("Put with dangling Active = %v, want ErrInvalidRecord", err)
	}
	if gen, _ := db.Generation(ctx); gen != 0 {
		t.Errorf("rejected Puts changed the generation to %d", gen)
	}
}

func TestDB_Get_NotFound(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, nil)
	if _, err := db.Get(ctx, "missing.example"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get = %v, want ErrNotFound", err)
	}
	if err := db.Delete(ctx, "missing.example"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Delete = %v, want ErrNotFound", err)
	}
	if _, err := db.GetAccount(ctx, "https://127.0.0.1/dir", ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetAccount = %v, want ErrNotFound", err)
	}
}

func TestDB_List_SortedByName(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, nil)
	for _, n := range []string{"c.example", "a.example", "b.example", "a.example.org"} {
		mustPut(t, db, &Certificate{Name: n})
	}
	list, err := db.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(list), []string{"a.example", "a.example.org", "b.example", "c.example"}; !slices.Equal(got, want) {
		t.Fatalf("List = %v, want %v", got, want)
	}
	revs, _ := db.Revisions(ctx)
	for _, c := range list {
		if c.Revision == 0 || revs[c.Name] != c.Revision {
			t.Errorf("%s: List revision %d, Revisions %d", c.Name, c.Revision, revs[c.Name])
		}
	}
}

// dueIndex returns the names in the due index, in index order, read directly
// from bbolt.
func dueIndex(t *testing.T, db *DB) []string {
	t.Helper()
	var out []string
	err := db.view(context.Background(), func(b *buckets) error {
		return b.due.ForEach(func(k, _ []byte) error {
			out = append(out, string(k[8:]))
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDB_Due_RangeScanInOrder(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, nil)
	// Put in an order unrelated to Next or name.
	order := []int{7, 2, 9, 0, 5, 3, 8, 1, 6, 4}
	for _, i := range order {
		c := &Certificate{Name: string(rune('a'+9-i)) + ".example"}
		c.Renewal.Next = t0.Add(time.Duration(i) * time.Hour)
		mustPut(t, db, c)
	}
	mustPut(t, db, &Certificate{Name: "unscheduled.example"}) // zero Next: never due
	old := &Certificate{Name: "pre1970.example"}
	old.Renewal.Next = time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)
	mustPut(t, db, old)

	due, err := db.Due(ctx, t0.Add(3*time.Hour)) // inclusive
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(due), []string{"pre1970.example", "j.example", "i.example", "h.example", "g.example"}; !slices.Equal(got, want) {
		t.Fatalf("Due = %v, want %v", got, want)
	}
	if none, _ := db.Due(ctx, time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC)); len(none) != 0 {
		t.Fatalf("Due before everything = %v, want none", names(none))
	}
	if all, _ := db.Due(ctx, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)); len(all) != 11 {
		t.Fatalf("Due far future: %d certificates, want 11 (unscheduled excluded)", len(all))
	}

	// Moving Next moves the index entry; clearing it removes the entry.
	c, _ := db.Get(ctx, "j.example") // Next t0
	c.Renewal.Next = t0.Add(100 * time.Hour)
	mustPut(t, db, c)
	c, _ = db.Get(ctx, "a.example") // Next t0+9h
	c.Renewal.Next = t0.Add(-time.Hour)
	mustPut(t, db, c)
	c, _ = db.Get(ctx, "i.example")
	c.Renewal.Next = time.Time{}
	mustPut(t, db, c)
	if err := db.Delete(ctx, "h.example"); err != nil {
		t.Fatal(err)
	}
	due, _ = db.Due(ctx, t0.Add(3*time.Hour))
	if got, want := names(due), []string{"pre1970.example", "a.example", "g.example"}; !slices.Equal(got, want) {
		t.Fatalf("Due after moves = %v, want %v", got, want)
	}
	idx := dueIndex(t, db)
	want := []string{"pre1970.example", "a.example", "g.example", "f.example", "e.example", "d.example", "c.example", "b.example", "j.example"}
	if !slices.Equal(idx, want) {
		t.Fatalf("due index = %v, want %v (one entry per scheduled certificate)", idx, want)
	}
}

func TestDB_Due_DoesNotReadRecordsThatAreNotDue(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, nil)
	soon := &Certificate{Name: "soon"}
	soon.Renewal.Next = t0
	later := &Certificate{Name: "later"}
	later.Renewal.Next = t0.Add(24 * time.Hour)
	mustPut(t, db, soon)
	mustPut(t, db, later)
	// Corrupt the record that is not due: a range scan never decodes it.
	err := db.update(ctx, func(b *buckets, _ uint64) error { return b.certs.Put([]byte("later"), []byte("{not json")) })
	if err != nil {
		t.Fatal(err)
	}
	due, err := db.Due(ctx, t0.Add(time.Hour))
	if err != nil || !slices.Equal(names(due), []string{"soon"}) {
		t.Fatalf("Due = %v, %v; want [soon], nil", names(due), err)
	}
	if _, err := db.List(ctx); err == nil {
		t.Fatal("List decoded the corrupted record without error; the check above proves nothing")
	}
}

func TestDB_Generation_BumpsOnEveryWrite(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, nil)
	gen := func() uint64 {
		t.Helper()
		g, err := db.Generation(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	if g := gen(); g != 0 {
		t.Fatalf("new store generation = %d, want 0", g)
	}
	a := &Certificate{Name: "a"}
	mustPut(t, db, a)
	if g := gen(); g != 1 || a.Revision != 1 {
		t.Fatalf("after first Put: generation %d revision %d, want 1 and 1", g, a.Revision)
	}
	b := &Certificate{Name: "b"}
	mustPut(t, db, b)
	if err := db.PutAccount(ctx, &Account{Directory: "https://127.0.0.1/dir"}); err != nil {
		t.Fatal(err)
	}
	mustPut(t, db, a)
	if g := gen(); g != 4 || a.Revision != 4 || b.Revision != 2 {
		t.Fatalf("generation %d, revisions a=%d b=%d; want 4, 4, 2", g, a.Revision, b.Revision)
	}
	if err := db.Put(ctx, &Certificate{Name: "a"}); !errors.Is(err, ErrConflict) {
		t.Fatalf("conflicting Put = %v", err)
	}
	if g := gen(); g != 4 {
		t.Fatalf("failed Put bumped the generation to %d", g)
	}
	if err := db.Delete(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if g := gen(); g != 5 {
		t.Fatalf("after Delete generation %d, want 5", g)
	}
	revs, err := db.Revisions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]uint64{"a": 4}; !reflect.DeepEqual(revs, want) {
		t.Fatalf("Revisions = %v, want %v", revs, want)
	}
}

func TestDB_PutAccount_UpsertAndList(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, &Options{Now: fixedClock(t0)})
	dir := "https://127.0.0.1:14000/dir"
	a := &Account{Directory: dir, Email: "ops@example.com", KeyPEM: []byte("key"), URI: "https://127.0.0.1:14000/my-account/1",
		KeyType: "ec256", Created: t0.Add(-time.Hour), TOSAgreed: true}
	requireAllSet(t, a)
	if err := db.PutAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	got, err := db.GetAccount(ctx, dir, "ops@example.com")
	if err != nil || !reflect.DeepEqual(got, a) {
		t.Fatalf("GetAccount = %+v, %v; want %+v", got, err, a)
	}
	noContact := &Account{Directory: dir, URI: "u2"}
	if err := db.PutAccount(ctx, noContact); err != nil {
		t.Fatal(err)
	}
	if !noContact.Created.Equal(t0) {
		t.Fatalf("Created = %v, want %v", noContact.Created, t0)
	}
	a.URI = "changed"
	if err := db.PutAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	other := &Account{Directory: "https://127.0.0.2/dir", Email: "a@example.com"}
	if err := db.PutAccount(ctx, other); err != nil {
		t.Fatal(err)
	}
	list, err := db.ListAccounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, x := range list {
		keys = append(keys, x.Directory+" "+x.Email+" "+x.URI)
	}
	want := []string{dir + "  u2", dir + " ops@example.com changed", "https://127.0.0.2/dir a@example.com "}
	if !slices.Equal(keys, want) {
		t.Fatalf("ListAccounts = %q, want %q", keys, want)
	}
	if err := db.PutAccount(ctx, &Account{}); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("PutAccount without directory = %v, want ErrInvalidRecord", err)
	}
}

func TestDB_NextDue_EarliestIndexed(t *testing.T) {
	db := openTest(t, nil)
	ctx := context.Background()
	if _, ok, err := db.NextDue(ctx); err != nil || ok {
		t.Fatalf("empty store: ok=%v err=%v", ok, err)
	}
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i, name := range []string{"late.example", "early.example", "mid.example"} {
		c := &Certificate{Name: name, Domains: []string{name}, KeyType: "ec256", Directory: "https://ca.example/dir"}
		c.Renewal.Next = t0.Add(time.Duration([]int{3, 1, 2}[i]) * time.Hour)
		if err := db.Put(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	at, ok, err := db.NextDue(ctx)
	if err != nil || !ok || !at.Equal(t0.Add(time.Hour)) {
		t.Fatalf("NextDue = %v %v %v, want %v", at, ok, err, t0.Add(time.Hour))
	}
	if err := db.Delete(ctx, "early.example"); err != nil {
		t.Fatal(err)
	}
	if at, _, _ := db.NextDue(ctx); !at.Equal(t0.Add(2 * time.Hour)) {
		t.Fatalf("after delete NextDue = %v", at)
	}
}
