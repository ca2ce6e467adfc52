package renew_test

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certctl/certctl/acme"
	"github.com/certctl/certctl/internal/acmetest"
	"github.com/certctl/certctl/renew"
	"github.com/certctl/certctl/store"
)

// counting counts the requests a client makes.
type counting struct {
	next http.RoundTripper
	n    atomic.Int64
}

func (c *counting) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

type env struct {
	srv   *acmetest.Server
	db    *store.DB
	svc   *renew.Service
	accts *renew.Accounts
	reqs  *counting
}

func newEnv(t *testing.T, opts acmetest.Options) *env {
	t.Helper()
	srv := acmetest.StartT(t, opts)
	db, err := store.Open(filepath.Join(t.TempDir(), "certctl.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	hc := srv.HTTPClient()
	cnt := &counting{next: hc.Transport}
	hc.Transport = cnt
	accts := &renew.Accounts{Store: db, HTTPClient: hc, AgreeTOS: true}
	svc := &renew.Service{Store: db, Issuers: accts}
	return &env{srv, db, svc, accts, cnt}
}

func (e *env) tmpl(name string, domains ...string) *store.Certificate {
	return &store.Certificate{Name: name, Domains: domains, KeyType: "ec256", Directory: e.srv.DirectoryURL(),
		Email:     "ops@example.com",
		Challenge: store.Challenge{Type: acme.HTTP01, HTTPAddr: "127.0.0.1:" + strconv.Itoa(e.srv.HTTPPort())}}
}

func (e *env) mustIssue(t *testing.T, name string, domains ...string) renew.Result {
	t.Helper()
	r := e.svc.Issue(context.Background(), e.tmpl(name, domains...), false)
	if r.Err != nil || r.Action != renew.ActionIssued {
		t.Fatalf("Issue %s: %s %v", name, r.Action, r.Err)
	}
	return r
}

// mustGet reads the certificate called name or fails the test.
func mustGet(t *testing.T, db *store.DB, name string) *store.Certificate {
	t.Helper()
	c, err := db.Get(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// verifyActive checks the stored active version against Pebble's root.
func (e *env) verifyActive(t *testing.T, name string) *store.Version {
	t.Helper()
	c := mustGet(t, e.db, name)
	v := c.ActiveVersion()
	pc, err := acme.ParseCertificate(v.Fullchain(), v.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	roots, _ := e.srv.Roots()
	inter := x509.NewCertPool()
	for _, ic := range pc.Chain {
		inter.AddCert(ic)
	}
	for _, d := range c.Domains {
		if _, err := pc.Leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: d}); err != nil {
			t.Fatalf("%s: %s does not verify against Pebble's root: %v", name, d, err)
		}
	}
	if pc.Serial() != v.Serial {
		t.Fatalf("stored serial %s != leaf serial %s", v.Serial, pc.Serial())
	}
	return v
}

func TestService_Issue_IdempotentWithoutCARequest(t *testing.T) {
	e := newEnv(t, acmetest.Options{})
	first := e.mustIssue(t, "a.example", "a.example", "www.a.example")
	e.verifyActive(t, "a.example")
	before, orders := e.reqs.n.Load(), e.srv.Orders()

	// Same names in another order: kept, no request at all.
	r := e.svc.Issue(context.Background(), e.tmpl("a.example", "www.a.example", "a.example"), false)
	if r.Err != nil || r.Action != renew.ActionKept || r.Serial != first.Serial {
		t.Fatalf("second Issue = %s %s %v", r.Action, r.Serial, r.Err)
	}
	if got := e.reqs.n.Load(); got != before {
		t.Fatalf("idempotent issue made %d requests to the CA", got-before)
	}
	// Forced: a new order.
	r = e.svc.Issue(context.Background(), e.tmpl("a.example", "a.example", "www.a.example"), true)
	if r.Err != nil || r.Action != renew.ActionRenewed || r.Serial == first.Serial || r.PrevSerial != first.Serial {
		t.Fatalf("forced Issue = %+v", r)
	}
	if e.srv.Orders() != orders+1 {
		t.Fatalf("forced issue: %d orders, want 1", e.srv.Orders()-orders)
	}
	// Different names: a new certificate under the same name.
	r = e.svc.Issue(context.Background(), e.tmpl("a.example", "a.example", "api.a.example"), false)
	if r.Err != nil || r.Action != renew.ActionRenewed {
		t.Fatalf("changed names: %+v", r)
	}
	e.verifyActive(t, "a.example")
}

func TestService_Renew_NotDueThenForce(t *testing.T) {
	e := newEnv(t, acmetest.Options{})
	first := e.mustIssue(t, "n.example", "n.example")
	orders := e.srv.Orders()
	r := e.svc.Renew(context.Background(), "n.example", false)
	if r.Err != nil || r.Action != renew.ActionNotDue || r.Serial != first.Serial {
		t.Fatalf("Renew not due = %+v", r)
	}
	if e.srv.Orders() != orders {
		t.Fatal("a not-due renewal placed an order")
	}
	c, _ := e.db.Get(context.Background(), "n.example")
	if c.ARI.WindowStart.IsZero() {
		t.Fatal("renewal check did not record the CA's ARI window")
	}
	r = e.svc.Renew(context.Background(), "n.example", true)
	if r.Err != nil || r.Action != renew.ActionRenewed || r.Serial == first.Serial {
		t.Fatalf("forced Renew = %+v", r)
	}
	e.verifyActive(t, "n.example")
}

func TestService_Renew_ShortLivedDue(t *testing.T) {
	e := newEnv(t, acmetest.Options{Validity: time.Minute})
	first := e.mustIssue(t, "s.example", "s.example")
	// Without an ARI window (the CA asked not to be asked again soon), the
	// lifetime rule applies: half of a one-minute lifetime.
	ctx := context.Background()
	c, _ := e.db.Get(ctx, "s.example")
	c.ARI.RetryAfter = time.Now().Add(time.Hour)
	if err := e.db.Put(ctx, c); err != nil {
		t.Fatal(err)
	}
	clock := time.Now().Add(15 * time.Second)
	e.svc.Now = func() time.Time { return clock }
	if r := e.svc.Renew(ctx, "s.example", false); r.Action != renew.ActionNotDue || r.Next.Reason != renew.ReasonHalf {
		t.Fatalf("at +15s: %+v", r)
	}
	clock = time.Now().Add(45 * time.Second)
	r := e.svc.Renew(ctx, "s.example", false)
	if r.Err != nil || r.Action != renew.ActionRenewed || r.Serial == first.Serial {
		t.Fatalf("due Renew = %+v", r)
	}
}

func TestService_Renew_ARIDueNowSendsReplaces(t *testing.T) {
	e := newEnv(t, acmetest.Options{})
	ctx := context.Background()
	first := e.mustIssue(t, "ari.example", "ari.example")
	// Pebble cannot find the order of a certificate whose serial has its
	// top bit set (it keeps DER's leading zero in the ARI ID): use another.
	for i := 0; first.Serial[0] >= '8' && i < 40; i++ {
		first = e.svc.Renew(ctx, "ari.example", true)
		if first.Err != nil {
			t.Fatal(first.Err)
		}
	}
	if r := e.svc.Renew(ctx, "ari.example", false); r.Action != renew.ActionNotDue {
		t.Fatalf("before ARI change: %+v", r)
	}
	c, _ := e.db.Get(ctx, "ari.example")
	start := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := e.srv.SetRenewalInfo(ctx, c.ActiveVersion().CertPEM, start, start.Add(30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	// The CA's Retry-After is honoured: pretend it has passed.
	c.ARI.RetryAfter = time.Time{}
	if err := e.db.Put(ctx, c); err != nil {
		t.Fatal(err)
	}
	replaced := e.srv.OrdersWithReplaces()
	r := e.svc.Renew(ctx, "ari.example", false)
	if r.Err != nil || r.Action != renew.ActionRenewed || r.PrevSerial != first.Serial {
		t.Fatalf("ARI renewal = %+v", r)
	}
	if e.srv.OrdersWithReplaces() != replaced+1 {
		t.Fatal("ARI renewal did not send replaces")
	}
	v := e.verifyActive(t, "ari.example")
	if v.Replaces == "" {
		t.Fatal("version does not record the certificate it replaced")
	}
}

func TestService_RevokeRollbackRemove(t *testing.T) {
	e := newEnv(t, acmetest.Options{})
	ctx := context.Background()
	first := e.mustIssue(t, "r.example", "r.example")
	second := e.svc.Renew(ctx, "r.example", true)
	if second.Err != nil {
		t.Fatal(second.Err)
	}
	v, err := e.svc.Revoke(ctx, "r.example", 4)
	if err != nil || v.Serial != second.Serial {
		t.Fatalf("Revoke = %+v, %v", v, err)
	}
	if st, reason, err := e.srv.CertStatus(ctx, second.Serial); err != nil || st != "Revoked" || reason != 4 {
		t.Fatalf("CA status = %s %d %v", st, reason, err)
	}
	c, _ := e.db.Get(ctx, "r.example")
	if d := e.svc.Decide(c); d.Reason != renew.ReasonRevoked || d.At.After(time.Now()) {
		t.Fatalf("revoked certificate not due now: %+v", d)
	}
	c, err = e.svc.Rollback(ctx, "r.example")
	if err != nil || c.ActiveVersion().Serial != first.Serial {
		t.Fatalf("Rollback = %v", err)
	}
	if _, err := e.svc.Rollback(ctx, "r.example"); !errors.Is(err, renew.ErrNoPrevious) {
		t.Fatalf("second Rollback = %v, want ErrNoPrevious", err)
	}
	if _, err := e.svc.Remove(ctx, "r.example", renew.RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.Get(ctx, "r.example"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after Remove: %v", err)
	}
}

func TestService_RenewMany_ParallelOverOneHTTPPort(t *testing.T) {
	e := newEnv(t, acmetest.Options{})
	ctx := context.Background()
	names := make([]string, 8)
	old := map[string]string{}
	for i := range names {
		names[i] = "p" + strconv.Itoa(i) + ".example"
		old[names[i]] = e.mustIssue(t, names[i], names[i]).Serial
	}
	e.svc.Workers = 8
	var mu sync.Mutex
	reported := map[string]string{}
	e.svc.OnResult = func(r renew.Result) {
		mu.Lock()
		defer mu.Unlock()
		reported[r.Name] = r.Serial
	}
	rs, err := e.svc.RenewMany(ctx, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 8 {
		t.Fatalf("%d results", len(rs))
	}
	for _, r := range rs {
		if r.Err != nil || r.Action != renew.ActionRenewed || r.Serial == old[r.Name] {
			t.Fatalf("%s: %+v", r.Name, r)
		}
		if reported[r.Name] != r.Serial {
			t.Fatalf("%s: OnResult reported serial %q, result %q", r.Name, reported[r.Name], r.Serial)
		}
		e.verifyActive(t, r.Name)
	}
	if len(reported) != 8 {
		t.Fatalf("OnResult reported %d results", len(reported))
	}
}

// MaxOrdersPerSecond holds back the orders past its budget: at one order
// in 1000 s, the first of two renewals is ordered and the second cannot get
// a slot before the context's deadline, so it fails at once without
// contacting the CA, and its certificate keeps its version.
func TestService_MaxOrdersPerSecond_HoldsBackOrders(t *testing.T) {
	e := newEnv(t, acmetest.Options{})
	old := map[string]string{}
	for _, n := range []string{"m1.example", "m2.example"} {
		old[n] = e.mustIssue(t, n, n).Serial
	}
	orders := e.srv.Orders()
	e.svc.Workers = 1
	e.svc.MaxOrdersPerSecond = 0.001
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rs, err := e.svc.RenewMany(ctx, []string{"m1.example", "m2.example"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if rs[0].Action != renew.ActionRenewed || rs[0].Serial == old["m1.example"] {
		t.Fatalf("first renewal: %+v", rs[0])
	}
	if rs[1].Action != renew.ActionFailed || !strings.Contains(rs[1].Err.Error(), "order slot") {
		t.Fatalf("second renewal: %+v", rs[1])
	}
	if got := e.srv.Orders() - orders; got != 1 {
		t.Fatalf("%d orders reached the CA, want 1", got)
	}
	e.verifyActive(t, "m2.example")
	if c, err := e.db.Get(context.Background(), "m2.example"); err != nil || c.ActiveVersion().Serial != old["m2.example"] {
		t.Fatalf("m2.example after the held-back renewal: %v", err)
	}
}

func TestService_Failures_RecordedAndStoreKept(t *testing.T) {
	e := newEnv(t, acmetest.Options{})
	ctx := context.Background()
	// A first issue the CA refuses leaves no record behind.
	e.srv.FailNewOrders(1, http.StatusTooManyRequests, 2*time.Hour)
	r := e.svc.Issue(ctx, e.tmpl("f.example", "f.example"), false)
	var rl *acme.RateLimitedError
	if r.Action != renew.ActionFailed || !errors.As(r.Err, &rl) {
		t.Fatalf("Issue under rate limit = %+v", r)
	}
	if _, err := e.db.Get(ctx, "f.example"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("failed first issue left a record: %v", err)
	}
	first := e.mustIssue(t, "f.example", "f.example")
	// A failed renewal keeps the active version and records the failure,
	// with the next attempt no earlier than the CA's Retry-After.
	e.srv.FailNewOrders(1, http.StatusTooManyRequests, 2*time.Hour)
	r = e.svc.Renew(ctx, "f.example", true)
	if r.Action != renew.ActionFailed {
		t.Fatalf("Renew under rate limit = %+v", r)
	}
	c, _ := e.db.Get(ctx, "f.example")
	if c.ActiveVersion().Serial != first.Serial || c.Renewal.Attempts != 1 || c.Renewal.LastError == "" {
		t.Fatalf("after failure: serial %s attempts %d error %q", c.ActiveVersion().Serial, c.Renewal.Attempts, c.Renewal.LastError)
	}
	if c.Renewal.Next.Before(time.Now().Add(2*time.Hour - time.Minute)) {
		t.Fatalf("next attempt %v ignores Retry-After", c.Renewal.Next)
	}
	if st := renew.StatusOf(c, e.svc.Decide(c), time.Now()); st != "failing" {
		t.Fatalf("status = %s", st)
	}
	if r := e.svc.Renew(ctx, "f.example", false); r.Action != renew.ActionNotDue {
		t.Fatalf("retried before Retry-After: %+v", r)
	}
}

func TestService_Issue_NoAccountWithoutTOS(t *testing.T) {
	e := newEnv(t, acmetest.Options{})
	e.accts.AgreeTOS = false
	r := e.svc.Issue(context.Background(), e.tmpl("t.example", "t.example"), false)
	if !errors.Is(r.Err, renew.ErrNoAccount) {
		t.Fatalf("Issue without account = %v", r.Err)
	}
	if accts, _ := e.db.ListAccounts(context.Background()); len(accts) != 0 {
		t.Fatal("an account was registered without agreement")
	}
}
