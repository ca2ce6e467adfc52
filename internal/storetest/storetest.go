package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certctl/certctl/internal/testpki"
	"github.com/certctl/certctl/store"
)

// Run runs the suite. open returns a new, empty backend for one subtest
// (and closes it when t ends); each subtest gets its own.
func Run(t *testing.T, open func(t *testing.T) store.Backend) {
	tests := []struct {
		name string
		fn   func(t *testing.T, b store.Backend)
	}{
		{"NotFound", testNotFound},
		{"PutGetRoundTrip", testRoundTrip},
		{"PutCompareAndSwap", testCAS},
		{"PutTrimsVersions", testTrim},
		{"PutRejectsInvalid", testInvalid},
		{"GenerationAndRevisions", testGeneration},
		{"ConcurrentWritersOfDifferentRecords", testConcurrentRecords},
		{"UpdateConcurrent", testUpdateConcurrent},
		{"ListSortedByName", testList},
		{"EachSortedByNameAndStops", testEach},
		{"DueOrderAndIndex", testDue},
		{"Accounts", testAccounts},
		{"LoadActive", testLoadActive},
		{"LoadActiveChainVerified", testChainVerified},
		{"LockExcludesGoroutines", testLockGoroutines},
		{"LockWaitStopsWithContext", testLockContext},
		{"CanceledContext", testCanceled},
		{"SharedCompareAndSwap", testShared},
		{"SharedTTLExpires", testSharedTTL},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

// t0 is a fixed UTC instant the suite's records use.
var t0 = time.Date(2026, 11, 3, 10, 0, 0, 123456789, time.UTC)

// version returns version seq with every field that matters set.
func version(seq int) store.Version {
	return store.Version{
		Seq:       seq,
		Serial:    fmt.Sprintf("0a%02x", seq),
		CertPEM:   fmt.Appendf(nil, "-----BEGIN CERTIFICATE-----\nleaf%d\n-----END CERTIFICATE-----\n", seq),
		ChainPEM:  []byte("-----BEGIN CERTIFICATE-----\nissuer\n-----END CERTIFICATE-----\n"),
		KeyPEM:    fmt.Appendf(nil, "-----BEGIN EC PRIVATE KEY-----\nkey%d\n-----END EC PRIVATE KEY-----\n", seq),
		NotBefore: t0.Add(time.Duration(seq) * time.Hour),
		NotAfter:  t0.Add(time.Duration(seq)*time.Hour + 90*24*time.Hour),
		Issued:    t0.Add(time.Duration(seq)*time.Hour + time.Minute),
		CertURL:   fmt.Sprintf("https://127.0.0.1:14000/certZ/%d", seq),
	}
}

// cert returns a record of name with two versions, the second active,
// due at next (zero: not scheduled).
func cert(name string, next time.Time) *store.Certificate {
	return &store.Certificate{
		Name:      name,
		Domains:   []string{name, "www." + name},
		KeyType:   "ec256",
		Challenge: store.Challenge{Type: "http-01", HTTPAddr: "127.0.0.1:5002"},
		Directory: "https://127.0.0.1:14000/dir",
		Email:     "ops@example.com",
		Hooks:     store.Hooks{Deploy: []string{"/bin/true"}},
		Bindings:  []store.FileBinding{{Dir: "/etc/ssl/certctl/" + name, ReloadCmd: []string{"true"}}},
		Active:    2,
		Versions:  []store.Version{version(1), version(2)},
		ARI:       store.ARIState{WindowStart: t0, WindowEnd: t0.Add(time.Hour), CertID: "id"},
		Renewal:   store.RenewalState{Next: next, Reason: "test"},
	}
}

// bg is the context of calls that are not about cancellation.
func bg(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func mustPut(t *testing.T, b store.Backend, c *store.Certificate) {
	t.Helper()
	if err := b.Put(bg(t), c); err != nil {
		t.Fatalf("Put(%s): %v", c.Name, err)
	}
}

func generation(t *testing.T, b store.Backend) uint64 {
	t.Helper()
	g, err := b.Generation(bg(t))
	if err != nil {
		t.Fatalf("Generation: %v", err)
	}
	return g
}

func names(certs []*store.Certificate) []string {
	out := make([]string, len(certs))
	for i, c := range certs {
		out[i] = c.Name
	}
	return out
}

func testNotFound(t *testing.T, b store.Backend) {
	ctx := bg(t)
	g := generation(t, b)
	if _, err := b.Get(ctx, "missing.example"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get of a missing record = %v, want ErrNotFound", err)
	}
	if err := b.Delete(ctx, "missing.example"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Delete of a missing record = %v, want ErrNotFound", err)
	}
	if _, err := b.GetAccount(ctx, "https://127.0.0.1/dir", "a@example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetAccount of a missing account = %v, want ErrNotFound", err)
	}
	if _, _, err := b.GetShared(ctx, "acme-http/missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetShared of a missing key = %v, want ErrNotFound", err)
	}
	if _, err := store.Update(ctx, b, "missing.example", func(*store.Certificate) error { return nil }); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Update of a missing record = %v, want ErrNotFound", err)
	}
	if got := generation(t, b); got != g {
		t.Errorf("generation moved from %d to %d without a write", g, got)
	}
	if list, err := b.List(ctx); err != nil || len(list) != 0 {
		t.Errorf("List of an empty store = %v, %v", names(list), err)
	}
	if _, ok, err := b.NextDue(ctx); ok || err != nil {
		t.Errorf("NextDue of an empty store = %v, %v; want false", ok, err)
	}
}

func testRoundTrip(t *testing.T, b store.Backend) {
	ctx := bg(t)
	c := cert("a.example", t0.Add(24*time.Hour))
	created := t0.Add(-time.Hour)
	c.Created = created
	if err := b.Put(ctx, c); err != nil {
		t.Fatal(err)
	}
	if c.Revision == 0 || c.Updated.IsZero() || !c.Created.Equal(created) {
		t.Fatalf("after Put: Revision=%d Updated=%v Created=%v", c.Revision, c.Updated, c.Created)
	}
	got, err := b.Get(ctx, "a.example")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Fatalf("Get after Put differs:\n got %+v\nwant %+v", got, c)
	}
	// Records are the caller's own copies.
	got.Domains[0] = "changed"
	got.Versions[0].CertPEM[0] = 'X'
	again, err := b.Get(ctx, "a.example")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again, c) {
		t.Fatal("changing a returned record changed the store")
	}
	// Created is set once, Updated on every write.
	n := &store.Certificate{Name: "b.example"}
	mustPut(t, b, n)
	if n.Created.IsZero() || !n.Created.Equal(n.Updated) {
		t.Fatalf("new record: Created=%v Updated=%v, want equal and set", n.Created, n.Updated)
	}
	first := n.Created
	mustPut(t, b, n)
	if !n.Created.Equal(first) || n.Updated.Before(first) {
		t.Fatalf("second write: Created=%v (was %v) Updated=%v", n.Created, first, n.Updated)
	}
}

func testCAS(t *testing.T, b store.Backend) {
	ctx := bg(t)
	c := cert("a.example", t0)
	mustPut(t, b, c)
	stale := c.Clone()
	c.KeyType = "ec384"
	mustPut(t, b, c)
	g := generation(t, b)

	stale.KeyType = "rsa2048"
	if err := b.Put(ctx, stale); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Put with a stale revision = %v, want ErrConflict", err)
	}
	fresh := cert("a.example", t0)
	if err := b.Put(ctx, fresh); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Put with revision 0 of an existing record = %v, want ErrConflict", err)
	}
	if fresh.Revision != 0 || !fresh.Updated.IsZero() {
		t.Fatalf("a failed Put changed the caller's record: Revision=%d Updated=%v", fresh.Revision, fresh.Updated)
	}
	ahead := c.Clone()
	ahead.Revision += 100
	if err := b.Put(ctx, ahead); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Put with a revision ahead of the store = %v, want ErrConflict", err)
	}
	got, err := b.Get(ctx, "a.example")
	if err != nil {
		t.Fatal(err)
	}
	if got.KeyType != "ec384" || got.Revision != c.Revision {
		t.Fatalf("after refused Puts: KeyType %q revision %d, want ec384 %d", got.KeyType, got.Revision, c.Revision)
	}
	if gen := generation(t, b); gen != g {
		t.Fatalf("refused Puts moved the generation from %d to %d", g, gen)
	}
	// A deleted record can be created again from revision 0 only.
	if err := b.Delete(ctx, "a.example"); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, c); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Put of a deleted record with its old revision = %v, want ErrConflict", err)
	}
	mustPut(t, b, cert("a.example", t0))
}

func testTrim(t *testing.T, b store.Backend) {
	ctx := bg(t)
	c := cert("a.example", time.Time{})
	c.Versions = nil
	for seq := 1; seq <= store.MaxVersions+2; seq++ {
		c.Versions = append(c.Versions, version(seq))
	}
	c.Active = 1 // the oldest stays, being active
	mustPut(t, b, c)
	got, err := b.Get(ctx, "a.example")
	if err != nil {
		t.Fatal(err)
	}
	var seqs []int
	for _, v := range got.Versions {
		seqs = append(seqs, v.Seq)
	}
	if want := []int{1, 4, 5, 6, 7}; !slices.Equal(seqs, want) {
		t.Fatalf("stored versions %v, want %v", seqs, want)
	}
	if len(c.Versions) != store.MaxVersions {
		t.Fatalf("Put left %d versions in the caller's record, want %d", len(c.Versions), store.MaxVersions)
	}
	if v := got.ActiveVersion(); v == nil || v.Seq != 1 {
		t.Fatalf("active version %+v, want seq 1", v)
	}
}

func testInvalid(t *testing.T, b store.Backend) {
	ctx := bg(t)
	g := generation(t, b)
	for _, name := range []string{"", "../x", "a/b", "-x", "a b"} {
		if err := b.Put(ctx, &store.Certificate{Name: name}); !errors.Is(err, store.ErrInvalidName) {
			t.Errorf("Put(%q) = %v, want ErrInvalidName", name, err)
		}
		if _, err := b.Get(ctx, name); !errors.Is(err, store.ErrInvalidName) {
			t.Errorf("Get(%q) = %v, want ErrInvalidName", name, err)
		}
	}
	c := cert("a.example", t0)
	c.Active = 9
	if err := b.Put(ctx, c); !errors.Is(err, store.ErrInvalidRecord) {
		t.Errorf("Put with an active version not among its versions = %v, want ErrInvalidRecord", err)
	}
	if err := b.PutAccount(ctx, &store.Account{Email: "a@example.com"}); !errors.Is(err, store.ErrInvalidRecord) {
		t.Errorf("PutAccount without a directory = %v, want ErrInvalidRecord", err)
	}
	if gen := generation(t, b); gen != g {
		t.Errorf("refused writes moved the generation from %d to %d", g, gen)
	}
}

func testGeneration(t *testing.T, b store.Backend) {
	ctx := bg(t)
	g := generation(t, b)
	step := func(what string, write func() error) uint64 {
		t.Helper()
		if err := write(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		got := generation(t, b)
		if got != g+1 {
			t.Fatalf("%s: generation %d, want %d", what, got, g+1)
		}
		g = got
		return got
	}
	a, c := cert("a.example", t0), cert("c.example", time.Time{})
	if gen := step("Put a", func() error { return b.Put(ctx, a) }); a.Revision != gen {
		t.Fatalf("a's revision %d, want the generation %d", a.Revision, gen)
	}
	step("Put c", func() error { return b.Put(ctx, c) })
	step("Put a again", func() error { return b.Put(ctx, a) })
	step("PutAccount", func() error {
		return b.PutAccount(ctx, &store.Account{Directory: "https://127.0.0.1/dir", Email: "x@example.com"})
	})
	revs, err := b.Revisions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]uint64{"a.example": a.Revision, "c.example": c.Revision}; !reflect.DeepEqual(revs, want) {
		t.Fatalf("Revisions = %v, want %v", revs, want)
	}
	step("Delete a", func() error { return b.Delete(ctx, "a.example") })
	revs, err = b.Revisions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]uint64{"c.example": c.Revision}; !reflect.DeepEqual(revs, want) {
		t.Fatalf("Revisions after Delete = %v, want %v", revs, want)
	}
	// Shared values are not certificates: they leave the generation alone.
	if _, err := b.PutShared(ctx, "k", []byte("v"), 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteShared(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if got := generation(t, b); got != g {
		t.Fatalf("shared writes moved the generation from %d to %d", g, got)
	}
}

// Writers of different records never lose a write or share a revision:
// each write takes the next generation.
func testConcurrentRecords(t *testing.T, b store.Backend) {
	ctx := bg(t)
	g := generation(t, b)
	const writers, each = 4, 5
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if err := b.Put(ctx, cert(fmt.Sprintf("w%d-%d.example", w, i), t0)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if got := generation(t, b); got != g+writers*each {
		t.Fatalf("generation %d after %d writes from %d, want %d", got, writers*each, g, g+writers*each)
	}
	revs, err := b.Revisions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[uint64]string{}
	for name, r := range revs {
		if r <= g || r > g+writers*each {
			t.Errorf("%s: revision %d outside (%d, %d]", name, r, g, g+writers*each)
		}
		if other, dup := seen[r]; dup {
			t.Errorf("%s and %s share revision %d", name, other, r)
		}
		seen[r] = name
	}
	if len(revs) != writers*each {
		t.Fatalf("%d records, want %d", len(revs), writers*each)
	}
}

func testUpdateConcurrent(t *testing.T, b store.Backend) {
	ctx := bg(t)
	mustPut(t, b, cert("a.example", t0))
	g := generation(t, b)
	const goroutines, each = 4, 5
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range each {
				_, err := store.Update(ctx, b, "a.example", func(c *store.Certificate) error {
					c.Renewal.Attempts++
					return nil
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	c, err := b.Get(ctx, "a.example")
	if err != nil {
		t.Fatal(err)
	}
	if c.Renewal.Attempts != goroutines*each {
		t.Fatalf("Attempts = %d, want %d: updates were lost", c.Renewal.Attempts, goroutines*each)
	}
	if got := generation(t, b); got != g+goroutines*each || c.Revision != got {
		t.Fatalf("generation %d (revision %d), want %d", got, c.Revision, g+goroutines*each)
	}
}

func testList(t *testing.T, b store.Backend) {
	ctx := bg(t)
	for _, n := range []string{"m.example", "a.example", "z.example", "b.example"} {
		mustPut(t, b, cert(n, time.Time{}))
	}
	list, err := b.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(list), []string{"a.example", "b.example", "m.example", "z.example"}; !slices.Equal(got, want) {
		t.Fatalf("List = %v, want %v", got, want)
	}
	for _, c := range list {
		if c.Revision == 0 || c.ActiveVersion() == nil {
			t.Fatalf("List returned %s without revision or active version", c.Name)
		}
	}
}

// testEach checks that Each visits the records List returns, in the same
// order and with the same content, and stops at fn's first error.
func testEach(t *testing.T, b store.Backend) {
	ctx := bg(t)
	for _, n := range []string{"c.example", "a.example", "b.example"} {
		mustPut(t, b, cert(n, t0))
	}
	list, err := b.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var seen []*store.Certificate
	if err := b.Each(ctx, func(c *store.Certificate) error { seen = append(seen, c); return nil }); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(seen, list) {
		t.Fatalf("Each visited %v, List returned %v", names(seen), names(list))
	}
	stop := errors.New("stop")
	calls := 0
	err = b.Each(ctx, func(*store.Certificate) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("Each with fn failing: %v after %d calls; want stop after 1", err, calls)
	}
}

func testDue(t *testing.T, b store.Backend) {
	ctx := bg(t)
	later := t0.Add(time.Hour)
	for _, c := range []*store.Certificate{
		cert("c.example", t0),
		cert("a.example", later),
		cert("b.example", t0),
		cert("never.example", time.Time{}),
		cert("past.example", time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)),
	} {
		mustPut(t, b, c)
	}
	due := func(before time.Time) []string {
		t.Helper()
		list, err := b.Due(ctx, before)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range list {
			if c.Revision == 0 {
				t.Fatalf("Due returned %s without a revision", c.Name)
			}
		}
		return names(list)
	}
	check := func(before time.Time, want ...string) {
		t.Helper()
		if got := due(before); !slices.Equal(got, want) {
			t.Fatalf("Due(%v) = %v, want %v", before, got, want)
		}
	}
	check(t0.Add(-time.Nanosecond), "past.example")
	check(t0, "past.example", "b.example", "c.example")
	check(later, "past.example", "b.example", "c.example", "a.example")
	check(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), "past.example", "b.example", "c.example", "a.example")
	if next, ok, err := b.NextDue(ctx); err != nil || !ok || !next.Equal(time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("NextDue = %v, %v, %v; want 1900-01-01", next, ok, err)
	}

	// Moving, clearing and deleting update the index.
	if _, err := store.Update(ctx, b, "c.example", func(c *store.Certificate) error {
		c.Renewal.Next = later.Add(time.Hour)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Update(ctx, b, "past.example", func(c *store.Certificate) error {
		c.Renewal.Next = time.Time{}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Update(ctx, b, "b.example", func(c *store.Certificate) error {
		c.Renewal.Reason = "same time, other fields"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	check(later, "b.example", "a.example")
	if next, ok, err := b.NextDue(ctx); err != nil || !ok || !next.Equal(t0) {
		t.Fatalf("NextDue = %v, %v, %v; want %v", next, ok, err, t0)
	}
	if err := b.Delete(ctx, "b.example"); err != nil {
		t.Fatal(err)
	}
	check(later.Add(time.Hour), "a.example", "c.example")
	if next, ok, err := b.NextDue(ctx); err != nil || !ok || !next.Equal(later) {
		t.Fatalf("NextDue = %v, %v, %v; want %v", next, ok, err, later)
	}
	for _, n := range []string{"a.example", "c.example"} {
		if err := b.Delete(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok, err := b.NextDue(ctx); ok || err != nil {
		t.Fatalf("NextDue with nothing scheduled = %v, %v; want false", ok, err)
	}
	check(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))
}

func testAccounts(t *testing.T, b store.Backend) {
	ctx := bg(t)
	dirB, dirA := "https://127.0.0.1:14000/b/dir", "https://127.0.0.1:14000/a/dir"
	put := func(a *store.Account) {
		t.Helper()
		if err := b.PutAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	a1 := &store.Account{Directory: dirB, Email: "x@example.com", KeyPEM: []byte("key1"), URI: "https://127.0.0.1/acct/1", KeyType: "ec256", TOSAgreed: true}
	put(a1)
	if a1.Created.IsZero() {
		t.Fatal("PutAccount did not set Created")
	}
	created := a1.Created
	put(&store.Account{Directory: dirB, Email: ""})
	put(&store.Account{Directory: dirA, Email: "z@example.com"})
	put(&store.Account{Directory: dirA + "/x", Email: "a@example.com"})

	got, err := b.GetAccount(ctx, dirB, "x@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, a1) {
		t.Fatalf("GetAccount = %+v, want %+v", got, a1)
	}
	// Replace keeps the given Created.
	a1.URI = "https://127.0.0.1/acct/2"
	put(a1)
	if got, err := b.GetAccount(ctx, dirB, "x@example.com"); err != nil || got.URI != a1.URI || !got.Created.Equal(created) {
		t.Fatalf("after replace: %+v, %v", got, err)
	}
	list, err := b.ListAccounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, a := range list {
		keys = append(keys, a.Directory+" "+a.Email)
	}
	want := []string{dirA + " z@example.com", dirA + "/x a@example.com", dirB + " ", dirB + " x@example.com"}
	if !slices.Equal(keys, want) {
		t.Fatalf("ListAccounts = %q, want %q", keys, want)
	}
	if _, err := b.GetAccount(ctx, dirB, "y@example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetAccount of another email = %v, want ErrNotFound", err)
	}
}

func testLoadActive(t *testing.T, b store.Backend) {
	ctx := bg(t)
	a, c := cert("a.example", t0), cert("c.example", t0)
	mustPut(t, b, a)
	mustPut(t, b, c)
	mustPut(t, b, &store.Certificate{Name: "none.example"})
	got, err := b.LoadActive(ctx, []string{"c.example", "missing.example", "a.example", "none.example"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != "c.example" || got[1].Name != "a.example" {
		t.Fatalf("LoadActive returned %+v, want c then a", got)
	}
	av := a.ActiveVersion()
	if string(got[1].FullchainPEM) != string(av.Fullchain()) || string(got[1].KeyPEM) != string(av.KeyPEM) ||
		!slices.Equal(got[1].Domains, a.Domains) || got[1].Revision != a.Revision {
		t.Fatalf("LoadActive(a) = %+v, want the active version of revision %d", got[1], a.Revision)
	}
	// Many names: batches, if the backend makes any, keep the order.
	var many []string
	for i := range 150 {
		n := fmt.Sprintf("n%03d.example", i)
		if i%3 == 0 {
			mustPut(t, b, cert(n, time.Time{}))
		}
		many = append(many, n)
	}
	slices.Reverse(many)
	got, err = b.LoadActive(ctx, many)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 50 {
		t.Fatalf("LoadActive of 150 names with 50 records = %d results", len(got))
	}
	for i := 1; i < len(got); i++ {
		if got[i-1].Name <= got[i].Name {
			t.Fatalf("LoadActive out of order: %s before %s", got[i-1].Name, got[i].Name)
		}
	}
}

// testChainVerified checks ActivePEM.ChainVerified: set for an active
// chain signed link by link (the store checked it at Put), never for a chain
// that is not, nor one ending in a self-signed root, nor a lone leaf, and
// recomputed when the active version changes.
func testChainVerified(t *testing.T, b store.Backend) {
	ctx := bg(t)
	now := time.Now()
	root := testpki.NewRoot(t, "Conformance Root")
	inter := root.SubCA(t, "Conformance Intermediate", now.Add(-time.Hour), now.Add(48*time.Hour))
	other := root.SubCA(t, "Other Intermediate", now.Add(-time.Hour), now.Add(48*time.Hour))
	leaf := func(name string) *testpki.Leaf { return inter.Issue(t, testpki.LeafSpec{Names: []string{name}}) }
	rec := func(name string, l *testpki.Leaf, chainPEM []byte) *store.Certificate {
		c := &store.Certificate{Name: name, Domains: []string{name}, KeyType: "ec256",
			Challenge: store.Challenge{Type: "http-01"}, Directory: "https://127.0.0.1:14000/dir"}
		c.AddVersion(store.Version{Seq: 1, Serial: l.Serial(), CertPEM: l.CertPEM(), ChainPEM: chainPEM, KeyPEM: l.KeyPEM(t),
			NotBefore: l.Cert.NotBefore, NotAfter: l.Cert.NotAfter})
		return c
	}
	good := rec("good.example", leaf("good.example"), inter.PEM())
	cases := []struct {
		c    *store.Certificate
		want bool
	}{
		{good, true},
		{rec("wrong-issuer.example", leaf("wrong-issuer.example"), other.PEM()), false},
		{rec("with-root.example", leaf("with-root.example"), append(inter.PEM(), root.PEM()...)), false},
		{rec("lone.example", leaf("lone.example"), nil), false},
		{rec("garbage.example", leaf("garbage.example"), []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")), false},
	}
	var names []string
	want := map[string]bool{}
	for _, tc := range cases {
		mustPut(t, b, tc.c)
		names = append(names, tc.c.Name)
		want[tc.c.Name] = tc.want
	}
	check := func(when string) {
		t.Helper()
		got, err := b.LoadActive(ctx, names)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(names) {
			t.Fatalf("%s: LoadActive returned %d certificates, want %d", when, len(got), len(names))
		}
		for _, a := range got {
			if a.ChainVerified != want[a.Name] {
				t.Errorf("%s: %s: ChainVerified = %v, want %v", when, a.Name, a.ChainVerified, want[a.Name])
			}
		}
	}
	check("after Put")

	// Read back and written again unchanged: still verified.
	if _, err := store.Update(ctx, b, "good.example", func(c *store.Certificate) error {
		c.Renewal.Reason = "touched"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	check("after a rewrite")

	// A new active version with a chain that does not sign it: not
	// verified; rolled back to the first version: verified again.
	bad := leaf("good.example")
	if _, err := store.Update(ctx, b, "good.example", func(c *store.Certificate) error {
		c.AddVersion(store.Version{Seq: 2, Serial: bad.Serial(), CertPEM: bad.CertPEM(), ChainPEM: other.PEM(),
			KeyPEM: bad.KeyPEM(t), NotBefore: bad.Cert.NotBefore, NotAfter: bad.Cert.NotAfter})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want["good.example"] = false
	check("after activating a badly chained version")
	if _, err := store.Update(ctx, b, "good.example", func(c *store.Certificate) error {
		c.Active = 1
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want["good.example"] = true
	check("after rolling back")
}

func testLockGoroutines(t *testing.T, b store.Backend) {
	ctx := bg(t)
	unlock, err := b.Lock(ctx, "a.example")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := b.TryLock(ctx, "a.example"); ok || err != nil {
		t.Fatalf("TryLock while held = %v, %v; want false, nil", ok, err)
	}
	if u, ok, err := b.TryLock(ctx, "b.example"); !ok || err != nil {
		t.Fatalf("TryLock of another name = %v, %v; want true", ok, err)
	} else {
		u()
	}
	// A waiter gets the lock once it is released.
	got := make(chan error, 1)
	go func() {
		u, err := b.Lock(ctx, "a.example")
		if err == nil {
			u()
		}
		got <- err
	}()
	unlock()
	unlock() // twice is harmless
	if err := <-got; err != nil {
		t.Fatalf("waiting Lock = %v", err)
	}
	u, ok, err := b.TryLock(ctx, "a.example")
	if !ok || err != nil {
		t.Fatalf("TryLock after release = %v, %v; want true", ok, err)
	}
	u()

	// Critical sections never overlap; counter is guarded by the lock
	// only, so -race also checks the happens-before edges of a mutex.
	var (
		inside  atomic.Int32
		counter int
		wg      sync.WaitGroup
		overlap atomic.Int32
	)
	const goroutines, each = 6, 5
	for g := range goroutines {
		wg.Go(func() {
			for range each {
				var unlock func()
				if g%2 == 0 {
					u, err := b.Lock(ctx, "a.example")
					if err != nil {
						t.Error(err)
						return
					}
					unlock = u
				} else {
					// TryLock, falling back to waiting when it is held.
					u, ok, err := b.TryLock(ctx, "a.example")
					if err == nil && !ok {
						u, err = b.Lock(ctx, "a.example")
					}
					if err != nil {
						t.Error(err)
						return
					}
					unlock = u
				}
				if n := inside.Add(1); n != 1 {
					overlap.Store(n)
				}
				counter++
				inside.Add(-1)
				unlock()
			}
		})
	}
	wg.Wait()
	if n := overlap.Load(); n != 0 {
		t.Fatalf("%d goroutines inside the lock at once", n)
	}
	if counter != goroutines*each {
		t.Fatalf("counter = %d, want %d", counter, goroutines*each)
	}
}

func testLockContext(t *testing.T, b store.Backend) {
	ctx := bg(t)
	unlock, err := b.Lock(ctx, "a.example")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	wctx, cancel := context.WithCancel(ctx)
	got := make(chan error, 1)
	go func() {
		u, err := b.Lock(wctx, "a.example")
		if err == nil {
			u()
		}
		got <- err
	}()
	cancel()
	if err := <-got; !errors.Is(err, context.Canceled) {
		t.Fatalf("Lock while held, ctx canceled = %v, want context.Canceled", err)
	}
	dctx, dcancel := context.WithTimeout(ctx, 100*time.Millisecond)
	_, err = b.Lock(dctx, "a.example")
	dcancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock while held, deadline = %v, want context.DeadlineExceeded", err)
	}
	// The abandoned waits leave the lock usable.
	unlock()
	u, ok, err := b.TryLock(ctx, "a.example")
	if !ok || err != nil {
		t.Fatalf("TryLock after the waiters gave up = %v, %v; want true", ok, err)
	}
	u()
}

func testCanceled(t *testing.T, b store.Backend) {
	mustPut(t, b, cert("a.example", t0))
	g := generation(t, b)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	checks := map[string]error{}
	_, checks["Get"] = b.Get(ctx, "a.example")
	_, checks["List"] = b.List(ctx)
	checks["Put"] = b.Put(ctx, cert("b.example", t0))
	checks["Delete"] = b.Delete(ctx, "a.example")
	_, _, checks["TryLock"] = b.TryLock(ctx, "a.example")
	_, checks["PutShared"] = b.PutShared(ctx, "k", []byte("v"), 0, 0)
	for op, err := range checks {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a canceled ctx = %v, want context.Canceled", op, err)
		}
	}
	if got := generation(t, b); got != g {
		t.Fatalf("calls with a canceled ctx moved the generation from %d to %d", g, got)
	}
	if _, err := b.Get(bg(t), "a.example"); err != nil {
		t.Fatalf("record gone after a canceled Delete: %v", err)
	}
}

func testShared(t *testing.T, b store.Backend) {
	ctx := bg(t)
	r1, err := b.PutShared(ctx, "acme-http/tok", []byte("v1"), 0, 0)
	if err != nil || r1 == 0 {
		t.Fatalf("PutShared new = %d, %v", r1, err)
	}
	if _, err := b.PutShared(ctx, "acme-http/tok", []byte("x"), 0, 0); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("PutShared with rev 0 of an existing key = %v, want ErrConflict", err)
	}
	r2, err := b.PutShared(ctx, "acme-http/tok", []byte("v2"), r1, 0)
	if err != nil || r2 == r1 {
		t.Fatalf("PutShared with its revision = %d, %v; want a new revision", r2, err)
	}
	if _, err := b.PutShared(ctx, "acme-http/tok", []byte("x"), r1, 0); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("PutShared with a stale revision = %v, want ErrConflict", err)
	}
	v, rev, err := b.GetShared(ctx, "acme-http/tok")
	if err != nil || string(v) != "v2" || rev != r2 {
		t.Fatalf("GetShared = %q, %d, %v; want v2, %d", v, rev, err, r2)
	}
	if err := b.DeleteShared(ctx, "acme-http/tok"); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteShared(ctx, "acme-http/tok"); err != nil {
		t.Fatalf("DeleteShared of a missing key = %v", err)
	}
	if _, _, err := b.GetShared(ctx, "acme-http/tok"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetShared after delete = %v, want ErrNotFound", err)
	}
	if _, err := b.PutShared(ctx, "acme-http/tok", []byte("v3"), 0, 0); err != nil {
		t.Fatalf("PutShared with rev 0 after delete = %v", err)
	}
	if _, err := b.PutShared(ctx, "bad key", nil, 0, 0); !errors.Is(err, store.ErrInvalidName) {
		t.Fatalf("PutShared with a bad key = %v, want ErrInvalidName", err)
	}
	if _, err := b.PutShared(ctx, "big", make([]byte, 64<<10+1), 0, 0); !errors.Is(err, store.ErrInvalidRecord) {
		t.Fatalf("PutShared of a value over 64 KiB = %v, want ErrInvalidRecord", err)
	}
}

func testSharedTTL(t *testing.T, b store.Backend) {
	ctx := bg(t)
	if _, err := b.PutShared(ctx, "keep", []byte("k"), 0, 0); err != nil {
		t.Fatal(err)
	}
	r, err := b.PutShared(ctx, "tmp", []byte("t"), 0, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if v, rev, err := b.GetShared(ctx, "tmp"); err != nil || string(v) != "t" || rev != r {
		t.Fatalf("GetShared before expiry = %q, %d, %v", v, rev, err)
	}
	// Poll until it expires; the bound is generous for a loaded machine
	// (etcd raises short leases to its minimum, about 2 s).
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		_, _, err := b.GetShared(ctx, "tmp")
		if errors.Is(err, store.ErrNotFound) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("a value with a ttl of 1 s has not expired after 30 s")
		}
		<-tick.C
	}
	if _, err := b.PutShared(ctx, "tmp", []byte("again"), 0, 0); err != nil {
		t.Fatalf("PutShared with rev 0 after expiry = %v", err)
	}
	if v, _, err := b.GetShared(ctx, "keep"); err != nil || string(v) != "k" {
		t.Fatalf("a value without ttl = %q, %v; want it kept", v, err)
	}
}
