package renew_test

import (
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/certctl/certctl/internal/acmetest"
	"github.com/certctl/certctl/renew"
	"github.com/certctl/certctl/store"
)

// newAccountCounter counts newAccount requests (Pebble's /sign-me-up).
type newAccountCounter struct {
	next http.RoundTripper
	n    atomic.Int64
}

func (c *newAccountCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost && r.URL.Path == "/sign-me-up" {
		c.n.Add(1)
	}
	return c.next.RoundTrip(r)
}

// Several registries sharing one store, as the processes of a fleet do,
// asked for the same missing account at once: one registration at the CA,
// and every registry ends up with that one account.
func TestAccounts_Register_OnceAcrossRegistries(t *testing.T) {
	srv := acmetest.StartT(t, acmetest.Options{})
	path := filepath.Join(t.TempDir(), "certctl.db")
	if _, err := store.Open(path, nil); err != nil {
		t.Fatal(err)
	}
	hc := srv.HTTPClient()
	cnt := &newAccountCounter{next: hc.Transport}
	hc.Transport = cnt

	const n = 4
	var (
		wg   sync.WaitGroup
		uris [n]string
		errs [n]error
	)
	start := make(chan struct{})
	for i := range n {
		// One store handle and registry each, like separate processes.
		db, err := store.Open(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		accts := &renew.Accounts{Store: db, HTTPClient: hc, AgreeTOS: true}
		wg.Go(func() {
			<-start
			a, err := accts.Register(t.Context(), srv.DirectoryURL(), "ops@example.com")
			if err == nil {
				uris[i] = a.URI
			}
			errs[i] = err
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("registry %d: %v", i, errs[i])
		}
		if uris[i] == "" || uris[i] != uris[0] {
			t.Fatalf("account URIs differ: %q", uris)
		}
	}
	if got := cnt.n.Load(); got != 1 {
		t.Fatalf("%d newAccount requests, want 1", got)
	}
	db, _ := store.Open(path, nil)
	a, err := db.GetAccount(t.Context(), srv.DirectoryURL(), "ops@example.com")
	if err != nil || a.URI != uris[0] {
		t.Fatalf("stored account %v, %v; want %s", a, err, uris[0])
	}
}
