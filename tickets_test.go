package certctl_test

import (
	"crypto/tls"
	"encoding/json"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/certctl/certctl"
	"github.com/certctl/certctl/internal/testpki"
	"github.com/certctl/certctl/store"
)

func openStore(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "certctl.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// ticketPKI is a root and a leaf for site.example that every node serves.
type ticketPKI struct {
	root *testpki.CA
	leaf *testpki.Leaf
}

func newTicketPKI(t *testing.T) ticketPKI {
	root := testpki.NewRoot(t, "Tickets Root")
	return ticketPKI{root, root.Issue(t, testpki.LeafSpec{Names: []string{"site.example"}})}
}

// node serves p's leaf with cfg's ticket settings; the server gets a clone
// of cfg, as http.Server does.
func (p ticketPKI) node(t *testing.T, cfg *tls.Config) *testpki.Server {
	cfg.Certificates = []tls.Certificate{p.leaf.TLS()}
	return testpki.ServeTLS(t, cfg.Clone())
}

// client is one browser: its own session cache, shared by every node since
// they serve one name.
func (p ticketPKI) client() *tls.Config {
	return &tls.Config{ServerName: "site.example", RootCAs: p.root.Pool(),
		ClientSessionCache: tls.NewLRUClientSessionCache(4)}
}

// resumed dials s with c and reports whether the session was resumed.
func resumed(t *testing.T, s *testpki.Server, c *tls.Config) bool {
	t.Helper()
	cs, err := s.Dial(c)
	if err != nil {
		t.Fatal(err)
	}
	return cs.DidResume
}

func TestShareSessionTickets_ResumesOnAnotherNode(t *testing.T) {
	p := newTicketPKI(t)
	db, other := openStore(t), openStore(t)
	cfgA, cfgB, cfgC := &tls.Config{}, &tls.Config{}, &tls.Config{}
	for _, n := range []struct {
		s   store.Shared
		cfg *tls.Config
	}{{db, cfgA}, {db, cfgB}, {other, cfgC}} {
		if err := certctl.ShareSessionTickets(t.Context(), n.s, n.cfg); err != nil {
			t.Fatal(err)
		}
	}
	a, b, c := p.node(t, cfgA), p.node(t, cfgB), p.node(t, cfgC)

	browser := p.client()
	if resumed(t, a, browser) {
		t.Fatal("first handshake resumed")
	}
	if !resumed(t, b, browser) {
		t.Fatal("node B did not resume a session begun on node A of the same fleet")
	}
	// Control: a node on another store cannot.
	browser = p.client()
	resumed(t, a, browser)
	if resumed(t, c, browser) {
		t.Fatal("a node outside the fleet resumed node A's session")
	}
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestSessionTickets_Rotation(t *testing.T) {
	p := newTicketPKI(t)
	db := openStore(t)
	clock := &fakeClock{t: time.Now()}
	ctx := t.Context()
	nodeA := &certctl.SessionTickets{Store: db, Keys: 2, Now: clock.Now}
	nodeB := &certctl.SessionTickets{Store: db, Keys: 2, Now: clock.Now}
	cfgA, cfgB := &tls.Config{}, &tls.Config{}
	nodeA.Configure(cfgA)
	nodeB.Configure(cfgB)
	a, b := p.node(t, cfgA), p.node(t, cfgB)
	update := func() {
		t.Helper()
		for _, n := range []*certctl.SessionTickets{nodeA, nodeB} {
			if err := n.Update(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	// rotate makes a new key and lets every node start encrypting with it.
	rotate := func() {
		t.Helper()
		clock.Add(time.Hour)
		update()
		clock.Add(2 * time.Minute)
		update()
	}

	update() // key 1
	old, keep := p.client(), p.client()
	resumed(t, a, old)  // ticket under key 1, not used again until the end
	resumed(t, a, keep) // ticket under key 1

	// Node A rotates; until node B has had time to read the new key, node
	// A keeps encrypting with the previous one, so B resumes its tickets.
	clock.Add(time.Hour)
	if err := nodeA.Update(ctx); err != nil {
		t.Fatal(err)
	}
	early := p.client()
	resumed(t, a, early)
	if !resumed(t, b, early) {
		t.Fatal("node A encrypted with a key node B had not read yet")
	}
	clock.Add(2 * time.Minute)
	update() // key 2 encrypts, key 1 still decrypts
	if !resumed(t, b, keep) {
		t.Fatal("after one rotation, a ticket of the previous key did not resume")
	}
	fresh := p.client()
	resumed(t, a, fresh) // a full handshake: a new ticket

	rotate() // key 3 encrypts, key 2 decrypts, key 1 dropped (Keys: 2)
	if !resumed(t, b, fresh) {
		t.Fatal("a ticket issued after the first rotation did not resume: it did not use key 2")
	}
	if !resumed(t, a, keep) {
		t.Fatal("the ticket node B reissued after the first rotation did not resume on node A")
	}
	if resumed(t, b, old) {
		t.Fatal("a ticket of a dropped key still resumed")
	}
}

func TestSessionTickets_ConcurrentRotationMakesOneKey(t *testing.T) {
	db := openStore(t)
	clock := &fakeClock{t: time.Now()}
	nodes := make([]*certctl.SessionTickets, 6)
	for i := range nodes {
		nodes[i] = &certctl.SessionTickets{Store: db, Now: clock.Now}
	}
	stored := func() int {
		t.Helper()
		v, _, err := db.GetShared(t.Context(), certctl.SessionTicketsKey)
		if err != nil {
			t.Fatal(err)
		}
		var set struct{ Keys []struct{ Key []byte } }
		if err := json.Unmarshal(v, &set); err != nil {
			t.Fatal(err)
		}
		return len(set.Keys)
	}
	for round := 1; round <= 2; round++ {
		var wg sync.WaitGroup
		for _, n := range nodes {
			wg.Go(func() {
				if err := n.Update(t.Context()); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if got := stored(); got != round {
			t.Fatalf("round %d: %d keys stored, want %d (one rotation per period for the whole fleet)", round, got, round)
		}
		clock.Add(time.Hour)
	}
}
