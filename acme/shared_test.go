package acme_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/asn1"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/certctl/certctl/acme"
)

// mapChallenges is an in-memory ChallengeStore that counts lookups.
type mapChallenges struct {
	mu      sync.Mutex
	m       map[string]string
	ttls    map[string]time.Duration
	lookups int
}

func newMapChallenges() *mapChallenges {
	return &mapChallenges{m: map[string]string{}, ttls: map[string]time.Duration{}}
}

func (c *mapChallenges) PublishChallenge(ctx context.Context, kind, key, keyAuth string, ttl time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[kind+"/"+key], c.ttls[kind+"/"+key] = keyAuth, ttl
	return nil
}

func (c *mapChallenges) LookupChallenge(ctx context.Context, kind, key string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lookups++
	ka, ok := c.m[kind+"/"+key]
	if !ok {
		return "", acme.ErrNoChallenge
	}
	return ka, nil
}

func (c *mapChallenges) RetractChallenge(ctx context.Context, kind, key, keyAuth string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m[kind+"/"+key] == keyAuth {
		delete(c.m, kind+"/"+key)
	}
	return nil
}

func (c *mapChallenges) count() (entries, lookups int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m), c.lookups
}

var _ acme.ChallengeStore = (*mapChallenges)(nil)

// get asks h for the token's key authorization.
func get(h http.Handler, token string) (int, string) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/.well-known/acme-challenge/"+token, nil))
	return rec.Code, rec.Body.String()
}

func TestHTTPResponder_Share_AnswersOtherNodesTokens(t *testing.T) {
	cs := newMapChallenges()
	a, b := acme.NewHTTPResponder(), acme.NewHTTPResponder()
	a.Share(cs, nil)
	b.Share(cs, nil)
	alone := acme.NewHTTPResponder()

	if err := a.Present("x.example", "tok-A_1", "tok-A_1.ka"); err != nil {
		t.Fatal(err)
	}
	if cs.ttls["http-01/tok-A_1"] != acme.ChallengeTTL {
		t.Fatalf("published with TTL %v, want %v", cs.ttls["http-01/tok-A_1"], acme.ChallengeTTL)
	}
	for name, h := range map[string]http.Handler{"A": a, "B": b} {
		if code, body := get(h, "tok-A_1"); code != http.StatusOK || body != "tok-A_1.ka" {
			t.Fatalf("node %s: %d %q, want 200 tok-A_1.ka", name, code, body)
		}
	}
	if code, _ := get(alone, "tok-A_1"); code != http.StatusNotFound {
		t.Fatalf("a responder outside the fleet answered %d", code)
	}
	// Not a token: never looked up.
	_, before := cs.count()
	if code, _ := get(b, "..%2Fetc"); code != http.StatusNotFound {
		t.Fatalf("bad token: %d", code)
	}
	if _, after := cs.count(); after != before {
		t.Fatalf("a malformed token reached the store")
	}

	if err := a.CleanUp("x.example", "tok-A_1", "tok-A_1.ka"); err != nil {
		t.Fatal(err)
	}
	if n, _ := cs.count(); n != 0 {
		t.Fatalf("%d answers left after CleanUp", n)
	}
	if code, _ := get(b, "tok-A_1"); code != http.StatusNotFound {
		t.Fatalf("node B still answers a retracted token: %d", code)
	}
}

// failingChallenges fails every operation.
type failingChallenges struct{}

var errStoreDown = errors.New("store down")

func (failingChallenges) PublishChallenge(context.Context, string, string, string, time.Duration) error {
	return errStoreDown
}
func (failingChallenges) LookupChallenge(context.Context, string, string) (string, error) {
	return "", errStoreDown
}
func (failingChallenges) RetractChallenge(context.Context, string, string, string) error {
	return errStoreDown
}

func TestHTTPResponder_Share_PublishFailureFailsPresent(t *testing.T) {
	r := acme.NewHTTPResponder()
	r.Share(failingChallenges{}, nil)
	if err := r.Present("x.example", "tok", "tok.ka"); !errors.Is(err, errStoreDown) {
		t.Fatalf("Present = %v, want the store's error", err)
	}
	if code, _ := get(r, "other"); code != http.StatusNotFound {
		t.Fatalf("unknown token with the store down: %d", code)
	}
	if err := r.CleanUp("x.example", "tok", "tok.ka"); err != nil {
		t.Fatalf("CleanUp = %v, want nil (the answer expires by itself)", err)
	}
}

// acmeIdentifier returns the value of the leaf's id-pe-acmeIdentifier
// extension (RFC 8737): the SHA-256 of the key authorization.
func acmeIdentifier(t *testing.T, c *tls.Certificate) []byte {
	t.Helper()
	oid := asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 31}
	leaf := c.Leaf
	if leaf == nil {
		t.Fatal("challenge certificate without a parsed leaf")
	}
	for _, e := range leaf.Extensions {
		if e.Id.Equal(oid) {
			var v []byte
			if _, err := asn1.Unmarshal(e.Value, &v); err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	t.Fatal("no acmeIdentifier extension")
	return nil
}

func TestTLSALPNResponder_Share_BuildsOtherNodesCertificates(t *testing.T) {
	cs := newMapChallenges()
	a, b := acme.NewTLSALPNResponder(), acme.NewTLSALPNResponder()
	a.Share(cs, nil)
	b.Share(cs, nil)
	defer a.Close()
	defer b.Close()

	if err := a.Present("X.Example", "tok", "tok.ka"); err != nil {
		t.Fatal(err)
	}
	hello := &tls.ClientHelloInfo{ServerName: "x.example", SupportedProtos: []string{acme.ALPNProto}}
	c, err := b.GetCertificate(hello)
	if err != nil {
		t.Fatal(err)
	}
	if c.Leaf == nil {
		if c.Leaf, err = acme.ParseLeaf(c); err != nil {
			t.Fatal(err)
		}
	}
	want := sha256.Sum256([]byte("tok.ka"))
	if got := acmeIdentifier(t, c); string(got) != string(want[:]) {
		t.Fatalf("acmeIdentifier %x, want %x", got, want)
	}
	if len(c.Leaf.DNSNames) != 1 || c.Leaf.DNSNames[0] != "x.example" {
		t.Fatalf("challenge certificate names %v", c.Leaf.DNSNames)
	}

	// A handshake that is not a validation is never looked up.
	_, before := cs.count()
	if _, err := b.GetCertificate(&tls.ClientHelloInfo{ServerName: "x.example", SupportedProtos: []string{"h2"}}); err == nil {
		t.Fatal("a non-ACME handshake got a challenge certificate")
	}
	if _, after := cs.count(); after != before {
		t.Fatal("a non-ACME handshake reached the store")
	}

	if err := a.CleanUp("x.example", "tok", "tok.ka"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.GetCertificate(hello); err == nil {
		t.Fatal("node B still answers a retracted challenge")
	}
}
