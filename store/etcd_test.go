package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certctl/certctl/internal/etcdtest"
	"github.com/certctl/certctl/internal/testpki"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// etcdPrefixes numbers the prefixes of the tests below, so tests sharing
// a member never share a store.
var etcdPrefixes atomic.Int64

// openEtcdTest opens a new store under a fresh prefix of srv, closed when
// t ends.
func openEtcdTest(t *testing.T, srv *etcdtest.Server, opts *Options) (*Etcd, string) {
	t.Helper()
	u := srv.StoreURL(fmt.Sprintf("t%d", etcdPrefixes.Add(1)))
	e := reopenEtcd(t, u, opts)
	return e, u
}

// reopenEtcd opens another Etcd on the store at u (another "node").
func reopenEtcd(t *testing.T, u string, opts *Options) *Etcd {
	t.Helper()
	e, err := OpenEtcd(context.Background(), u, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

// rawClient is a client of srv that bypasses the store.
func rawClient(t *testing.T, srv *etcdtest.Server) *clientv3.Client {
	t.Helper()
	cli, err := srv.Client()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// testCtx is a context bounded by a generous minute.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestParseEtcdURL(t *testing.T) {
	tests := []struct {
		in, loc, user, pass string
		tls                 bool
		err                 string
	}{
		{in: "etcd://127.0.0.1:2379", loc: "etcd://127.0.0.1:2379/certctl"},
		{in: "etcd://127.0.0.1:2379/", loc: "etcd://127.0.0.1:2379/certctl"},
		{in: "etcd://a:1,b:2/fleet/prod/", loc: "etcd://a:1,b:2/fleet/prod"},
		{in: "etcds://h/p", loc: "etcds://h:2379/p", tls: true},
		{in: "etcd://[::1]:23/x", loc: "etcd://[::1]:23/x"},
		{in: "etcd://u:p%40ss@h:1/x", loc: "etcd://h:1/x", user: "u", pass: "p@ss"},
		{in: "etcd://h:1,,h:2/x", err: "empty endpoint"},
		{in: "etcd:///x", err: "empty endpoint"},
		{in: "etcd://h:99999/x", err: "want host:port"},
		{in: "etcd://h:1/x?y=1", err: "query"},
		{in: "etcd://h:1/a b", err: "spaces"},
		{in: "http://h:1/x", err: "want etcd://"},
	}
	for _, tc := range tests {
		u, err := parseEtcdURL(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseEtcdURL(%q) = %v, want error with %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseEtcdURL(%q): %v", tc.in, err)
			continue
		}
		if u.location() != tc.loc || u.tls != tc.tls || u.user != tc.user || u.pass != tc.pass {
			t.Errorf("parseEtcdURL(%q) = %+v (%s), want %s tls=%v user=%q pass=%q", tc.in, u, u.location(), tc.loc, tc.tls, tc.user, tc.pass)
		}
	}
	if got := redactURL("etcd://u:secret@h:1,/x"); strings.Contains(got, "secret") {
		t.Errorf("redactURL kept the password: %s", got)
	}
}

func TestOpenEtcd_Unreachable(t *testing.T) {
	_, err := OpenURL(context.Background(), "etcd://127.0.0.1:1/certctl", &Options{DialTimeout: 300 * time.Millisecond})
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("OpenURL of a closed port = %v, want ErrUnreachable", err)
	}
	const want = "store etcd://127.0.0.1:1/certctl: cannot reach etcd at 127.0.0.1:1: "
	if !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("error %q, want it to start with %q and say the connection was refused", err, want)
	}
}

func TestOpenEtcd_RefusesForeignPrefixAndNewerSchema(t *testing.T) {
	srv := etcdtest.StartT(t)
	ctx := testCtx(t)
	cli := rawClient(t, srv)
	if _, err := cli.Put(ctx, "/foreign/some-key", "v"); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenEtcd(ctx, srv.StoreURL("foreign"), nil); !errors.Is(err, ErrNotStore) {
		t.Fatalf("open of a prefix holding other keys = %v, want ErrNotStore", err)
	}
	if r, _ := cli.Get(ctx, "/foreign/", clientv3.WithPrefix()); len(r.Kvs) != 1 {
		t.Fatalf("the foreign prefix was written to: %d keys", len(r.Kvs))
	}
	if _, err := cli.Put(ctx, "/newer/meta/schema", "99"); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenEtcd(ctx, srv.StoreURL("newer"), nil); !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("open of a newer schema = %v, want ErrSchemaTooNew", err)
	}
	if _, err := OpenEtcd(ctx, srv.StoreURL("empty"), &Options{ReadOnly: true}); !errors.Is(err, ErrNotStore) {
		t.Fatalf("read-only open of an empty prefix = %v, want ErrNotStore", err)
	}

	// Read-only on an existing store: reads work, writes are refused.
	rw, u := openEtcdTest(t, srv, nil)
	c := &Certificate{Name: "a.example"}
	if err := rw.Put(ctx, c); err != nil {
		t.Fatal(err)
	}
	ro := reopenEtcd(t, u, &Options{ReadOnly: true})
	if _, err := ro.Get(ctx, "a.example"); err != nil {
		t.Fatal(err)
	}
	if err := ro.Put(ctx, c); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("Put on a read-only store = %v, want ErrReadOnly", err)
	}
	if ro.Location() != u {
		t.Fatalf("Location = %q, want %q", ro.Location(), u)
	}
}

func TestEtcd_UnreachableAfterOpen(t *testing.T) {
	srv := etcdtest.StartT(t)
	e, _ := openEtcdTest(t, srv, &Options{DialTimeout: 300 * time.Millisecond})
	ctx := testCtx(t)
	c := &Certificate{Name: "a.example"}
	if err := e.Put(ctx, c); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	if _, err := e.Get(ctx, "a.example"); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("Get with etcd stopped = %v, want ErrUnreachable", err)
	}
	c.KeyType = "rsa2048"
	if err := e.Put(ctx, c); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("Put with etcd stopped = %v, want ErrUnreachable", err)
	}
	if _, _, err := e.TryLock(ctx, "a.example"); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("TryLock with etcd stopped = %v, want ErrUnreachable", err)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	// The client reconnects with a back-off: poll until it does.
	var (
		got *Certificate
		err error
	)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		if got, err = e.Get(ctx, "a.example"); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("Get after etcd restarted: %v", err)
	}
	if got.KeyType != "" || got.Revision != c.Revision {
		t.Fatalf("the Put made while etcd was stopped was written: %+v", got)
	}
}

// revokeLock revokes the lease of the lock key of name, as etcd does when
// its holder stops renewing it (a pause longer than the TTL).
func revokeLock(t *testing.T, cli *clientv3.Client, e *Etcd, name string) {
	t.Helper()
	ctx := testCtx(t)
	r, err := cli.Get(ctx, e.lockPrefix(name)+"/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Kvs) != 1 || r.Kvs[0].Lease == 0 {
		t.Fatalf("lock keys of %s: %v, want one with a lease", name, r.Kvs)
	}
	if _, err := cli.Revoke(ctx, clientv3.LeaseID(r.Kvs[0].Lease)); err != nil {
		t.Fatal(err)
	}
}

// A node that paused past its lock's TTL cannot write after another node
// took the lock.
func TestEtcd_Lock_FencesLateWrites(t *testing.T) {
	srv := etcdtest.StartT(t)
	ctx := testCtx(t)
	opts := &Options{LockTTL: 2 * time.Second}
	node1, u := openEtcdTest(t, srv, opts)
	node2 := reopenEtcd(t, u, opts)
	if err := node1.Put(ctx, &Certificate{Name: "a.example"}); err != nil {
		t.Fatal(err)
	}
	unlock1, err := node1.Lock(ctx, "a.example")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock1()
	c1, err := node1.Get(ctx, "a.example")
	if err != nil {
		t.Fatal(err)
	}

	// Node 1 pauses; its lease expires and node 2 takes over and writes.
	revokeLock(t, rawClient(t, srv), node1, "a.example")
	unlock2, err := node2.Lock(ctx, "a.example")
	if err != nil {
		t.Fatal(err)
	}
	c2, err := Update(ctx, node2, "a.example", func(c *Certificate) error {
		c.Renewal.Reason = "node 2"
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	gen, err := node2.Generation(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// Node 1 wakes up and writes, from its stale copy or from a fresh read.
	c1.Renewal.Reason = "node 1, late"
	if err := node1.Put(ctx, c1); !errors.Is(err, ErrLockLost) {
		t.Fatalf("late Put from a stale copy = %v, want ErrLockLost", err)
	}
	fresh, err := node1.Get(ctx, "a.example")
	if err != nil {
		t.Fatal(err)
	}
	fresh.Renewal.Reason = "node 1, late"
	if err := node1.Put(ctx, fresh); !errors.Is(err, ErrLockLost) {
		t.Fatalf("late Put from a fresh read = %v, want ErrLockLost", err)
	}
	if err := node1.Delete(ctx, "a.example"); !errors.Is(err, ErrLockLost) {
		t.Fatalf("late Delete = %v, want ErrLockLost", err)
	}
	got, err := node2.Get(ctx, "a.example")
	if err != nil {
		t.Fatal(err)
	}
	if got.Renewal.Reason != "node 2" || got.Revision != c2.Revision {
		t.Fatalf("record after the late writes: reason %q revision %d, want node 2's (%d)", got.Renewal.Reason, got.Revision, c2.Revision)
	}
	if g, _ := node2.Generation(ctx); g != gen {
		t.Fatalf("refused writes moved the generation from %d to %d", gen, g)
	}

	// Once node 2 is done, node 1 locks again on a new session and writes.
	unlock2()
	unlock1()
	if _, ok, err := node1.TryLock(ctx, "a.example"); err != nil || !ok {
		t.Fatalf("node 1 TryLock after node 2 released = %v, %v", ok, err)
	}
	if _, err := Update(ctx, node1, "a.example", func(c *Certificate) error {
		c.Renewal.Reason = "node 1 again"
		return nil
	}); err != nil {
		t.Fatalf("node 1 writing under its new lock: %v", err)
	}
	if _, ok, err := node2.TryLock(ctx, "a.example"); err != nil || ok {
		t.Fatalf("node 2 TryLock while node 1 holds it again = %v, %v; want false", ok, err)
	}
}

// The fence is part of the write's transaction: a lease that expires
// between the write's reads and its transaction still stops it.
func TestEtcd_Lock_FenceInTransaction(t *testing.T) {
	srv := etcdtest.StartT(t)
	ctx := testCtx(t)
	e, _ := openEtcdTest(t, srv, &Options{LockTTL: 2 * time.Second})
	if err := e.Put(ctx, &Certificate{Name: "a.example"}); err != nil {
		t.Fatal(err)
	}
	unlock, err := e.Lock(ctx, "a.example")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	c, err := e.Get(ctx, "a.example")
	if err != nil {
		t.Fatal(err)
	}
	cli := rawClient(t, srv)
	e.beforeWrite = func() {
		e.beforeWrite = nil
		revokeLock(t, cli, e, "a.example")
	}
	c.KeyType = "rsa2048"
	if err := e.Put(ctx, c); !errors.Is(err, ErrLockLost) {
		t.Fatalf("Put whose lock expired before its transaction = %v, want ErrLockLost", err)
	}
	got, err := e.Get(ctx, "a.example")
	if err != nil {
		t.Fatal(err)
	}
	if got.KeyType != "" || got.Revision != c.Revision {
		t.Fatalf("the fenced Put wrote: %+v", got)
	}
}

// Two Etcd values (two nodes) exclude each other.
func TestEtcd_Lock_ExcludesOtherNodes(t *testing.T) {
	srv := etcdtest.StartT(t)
	ctx := testCtx(t)
	node1, u := openEtcdTest(t, srv, nil)
	node2 := reopenEtcd(t, u, nil)
	unlock, err := node1.Lock(ctx, "a.example")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := node2.TryLock(ctx, "a.example"); ok || err != nil {
		t.Fatalf("TryLock on another node while held = %v, %v; want false", ok, err)
	}
	tctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	_, err = node2.Lock(tctx, "a.example")
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock on another node while held = %v, want DeadlineExceeded", err)
	}
	got := make(chan error, 1)
	go func() {
		u, err := node2.Lock(ctx, "a.example")
		if err == nil {
			u()
		}
		got <- err
	}()
	unlock()
	if err := <-got; err != nil {
		t.Fatalf("waiting Lock on another node: %v", err)
	}
	// Closing a node releases its locks at once (its lease is revoked).
	if _, err := node1.Lock(ctx, "b.example"); err != nil {
		t.Fatal(err)
	}
	if err := node1.Close(); err != nil {
		t.Fatal(err)
	}
	if u, ok, err := node2.TryLock(ctx, "b.example"); !ok || err != nil {
		t.Fatalf("TryLock after the holder closed = %v, %v; want true", ok, err)
	} else {
		u()
	}
}

func TestEtcd_Lock_ExcludesProcesses(t *testing.T) {
	srv := etcdtest.StartT(t)
	e, u := openEtcdTest(t, srv, nil)
	testLockExcludesProcesses(t, e, u)
}

// receive waits for a value on ch, failing after a generous bound.
func receive(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case _, ok := <-ch:
		if !ok {
			t.Fatalf("%s: watch channel closed", what)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: no notification within 30 s", what)
	}
}

// drain empties ch: a value without a change is allowed by the contract,
// but would make the next receive prove nothing.
func drain(ch <-chan struct{}) {
	select {
	case <-ch:
	default:
	}
}

func TestEtcd_Watch_WriteByAnotherClient(t *testing.T) {
	srv := etcdtest.StartT(t)
	ctx, cancel := context.WithCancel(testCtx(t))
	e, u := openEtcdTest(t, srv, nil)
	other := reopenEtcd(t, u, nil)
	w := e.Watch(ctx)
	if err := other.Put(ctx, &Certificate{Name: "a.example"}); err != nil {
		t.Fatal(err)
	}
	receive(t, w, "Put by another client")
	if err := other.Delete(ctx, "a.example"); err != nil {
		t.Fatal(err)
	}
	receive(t, w, "Delete by another client")
	cancel()
	for range w { // closed when ctx is done
	}
}

func TestEtcd_Watch_SurvivesRestart(t *testing.T) {
	srv := etcdtest.StartT(t)
	ctx := testCtx(t)
	e, u := openEtcdTest(t, srv, nil)
	w := e.Watch(ctx)
	if err := e.Put(ctx, &Certificate{Name: "a.example"}); err != nil {
		t.Fatal(err)
	}
	receive(t, w, "before the restart")

	srv.Stop()
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	// A new client (another node) writes after the restart.
	other := reopenEtcd(t, u, nil)
	drain(w)
	if err := other.Put(ctx, &Certificate{Name: "b.example"}); err != nil {
		t.Fatal(err)
	}
	receive(t, w, "write after the restart")
	drain(w)
	if err := other.Delete(ctx, "b.example"); err != nil {
		t.Fatal(err)
	}
	receive(t, w, "second write after the restart")
}

func TestEtcd_Watch_AfterCompaction(t *testing.T) {
	srv := etcdtest.StartT(t)
	ctx := testCtx(t)
	e, u := openEtcdTest(t, srv, nil)
	other := reopenEtcd(t, u, nil)
	r, err := rawClient(t, srv).Get(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	start := r.Header.Revision
	for _, n := range []string{"a.example", "b.example"} {
		if err := other.Put(ctx, &Certificate{Name: n}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := srv.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	// A watch that had reached start only (it was cut off meanwhile)
	// cannot resume: it is told to resync, then keeps working.
	w := e.watchFrom(ctx, start)
	receive(t, w, "after a compaction past the watch's revision")
	drain(w)
	if err := other.Delete(ctx, "a.example"); err != nil {
		t.Fatal(err)
	}
	receive(t, w, "write after the resync")
}

func TestEtcd_Watch_ClosedWithStore(t *testing.T) {
	srv := etcdtest.StartT(t)
	e, _ := openEtcdTest(t, srv, nil)
	w := e.Watch(testCtx(t))
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	for range w { // must end
	}
}

func TestOpenEtcd_TLSSettings(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, testpki.NewRoot(t, "etcd test CA").PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	if _, err := OpenEtcd(ctx, "etcd://127.0.0.1:1/x", &Options{EtcdCA: filepath.Join(dir, "missing.pem")}); err == nil || !strings.Contains(err.Error(), "etcd CA") {
		t.Fatalf("a missing CA file = %v, want an error naming it", err)
	}
	if _, err := OpenEtcd(ctx, "etcd://127.0.0.1:1/x", &Options{EtcdCert: ca}); err == nil || !strings.Contains(err.Error(), "both") {
		t.Fatalf("a client certificate without its key = %v, want an error", err)
	}
	// A CA turns TLS on even with etcd://: a plain-text member then does
	// not answer, and the error names the TLS URL.
	srv := etcdtest.StartT(t)
	_, err := OpenEtcd(ctx, srv.StoreURL("tls"), &Options{EtcdCA: ca, DialTimeout: 500 * time.Millisecond})
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "etcds://"+srv.HostPort()+"/tls") {
		t.Fatalf("TLS to a plain-text member = %v, want ErrUnreachable naming etcds://", err)
	}
}
