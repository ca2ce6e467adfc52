package renew_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/certctl/certctl/renew"
	"github.com/certctl/certctl/store"
)

func (f *fakeCA) lastOrder() (keyPEM, csr []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o := f.orders[len(f.orders)-1]
	return o.KeyPEM, o.CSR
}

// The renewal of a certificate with ReuseKey orders with its active key,
// whoever runs it (renew, the daemon's scans: both go through Renew); a
// changed key type orders a new key; without ReuseKey no key is passed.
func TestUnit_Renew_ReuseKey(t *testing.T) {
	e := newUnitEnv(t)
	ctx := context.Background()
	e.issue(t, "keep.example")
	if k, _ := e.ca.lastOrder(); k != nil {
		t.Fatal("first order given a key")
	}
	on := true
	if _, err := e.svc.Configure(ctx, "keep.example", renew.Settings{ReuseKey: &on}); err != nil {
		t.Fatal(err)
	}
	e.now = e.now.Add(61 * 24 * time.Hour) // due
	active := e.get(t, "keep.example").ActiveVersion().KeyPEM
	if r := e.svc.Renew(ctx, "keep.example", false); r.Action != renew.ActionRenewed {
		t.Fatalf("renew: %+v", r)
	}
	if k, _ := e.ca.lastOrder(); !bytes.Equal(k, active) {
		t.Fatal("renewal with ReuseKey did not order with the active key")
	}

	if _, err := e.svc.Configure(ctx, "keep.example", renew.Settings{KeyType: "ec384"}); err != nil {
		t.Fatal(err)
	}
	if r := e.svc.Renew(ctx, "keep.example", true); r.Action != renew.ActionRenewed {
		t.Fatalf("renew: %+v", r)
	}
	if k, _ := e.ca.lastOrder(); k != nil {
		t.Fatal("an ec256 key reused for an ec384 order")
	}

	off := false
	if _, err := e.svc.Configure(ctx, "keep.example", renew.Settings{ReuseKey: &off, KeyType: "ec256"}); err != nil {
		t.Fatal(err)
	}
	if r := e.svc.Renew(ctx, "keep.example", true); r.Action != renew.ActionRenewed {
		t.Fatalf("renew: %+v", r)
	}
	if k, _ := e.ca.lastOrder(); k != nil {
		t.Fatal("key passed with ReuseKey off")
	}
}

// A certificate with a CSR orders with it, never with a key.
func TestUnit_Issue_CSROrdersWithIt(t *testing.T) {
	e := newUnitEnv(t)
	ctx := context.Background()
	csr := []byte("-----BEGIN CERTIFICATE REQUEST-----\nMAA=\n-----END CERTIFICATE REQUEST-----\n")
	r := e.svc.Issue(ctx, &store.Certificate{Name: "csr.example", Domains: []string{"csr.example"}, KeyType: "ec256",
		Directory: "https://ca.invalid/dir", CSR: csr, ReuseKey: true}, false)
	if r.Action != renew.ActionIssued {
		t.Fatalf("issue: %+v", r)
	}
	if k, c := e.ca.lastOrder(); k != nil || !bytes.Equal(c, csr) {
		t.Fatalf("order key %q, CSR %q", k, c)
	}
	if r := e.svc.Renew(ctx, "csr.example", true); r.Action != renew.ActionRenewed {
		t.Fatalf("renew: %+v", r)
	}
	if k, c := e.ca.lastOrder(); k != nil || !bytes.Equal(c, csr) {
		t.Fatalf("renewal order key %q, CSR %q", k, c)
	}
	// The same CSR again is kept; another one is ordered at once.
	tmpl := &store.Certificate{Name: "csr.example", Domains: []string{"csr.example"}, KeyType: "ec256",
		Directory: "https://ca.invalid/dir", CSR: csr}
	if r := e.svc.Issue(ctx, tmpl, false); r.Action != renew.ActionKept {
		t.Fatalf("issue with the same CSR: %+v", r)
	}
	tmpl.CSR = append(bytes.Clone(csr), '\n')
	if r := e.svc.Issue(ctx, tmpl, false); r.Action != renew.ActionRenewed {
		t.Fatalf("issue with another CSR: %+v", r)
	}
}
