package acme

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// memChallenges is a ChallengeStore in memory that signals each retraction.
type memChallenges struct {
	mu        sync.Mutex
	m         map[string]string
	retracted chan string
}

func newMemChallenges() *memChallenges {
	return &memChallenges{m: map[string]string{}, retracted: make(chan string, 16)}
}

func (c *memChallenges) PublishChallenge(_ context.Context, kind, key, ka string, _ time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[kind+"/"+key] = ka
	return nil
}

func (c *memChallenges) LookupChallenge(_ context.Context, kind, key string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ka, ok := c.m[kind+"/"+key]; ok {
		return ka, nil
	}
	return "", ErrNoChallenge
}

func (c *memChallenges) RetractChallenge(_ context.Context, kind, key, ka string) error {
	c.mu.Lock()
	if c.m[kind+"/"+key] == ka {
		delete(c.m, kind+"/"+key)
	}
	c.mu.Unlock()
	c.retracted <- key
	return nil
}

func (c *memChallenges) has(kind, key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.m[kind+"/"+key]
	return ok
}

// freeAddr returns a loopback address with a port free at the time.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// A delegate's token is answered by the port's holder from the store; the
// holder, its own orders done, stays up until the delegate retracts the
// token, and then frees the port.
func TestDelegate_HolderAnswersAndLingers(t *testing.T) {
	cs := newMemChallenges()
	addr := freeAddr(t)
	ctx := context.Background()
	holder, release, err := acquireHTTP(ctx, addr, true)
	if err != nil {
		t.Fatal(err)
	}
	holder.Share(cs, nil)

	d := newDelegate(ctx, addr, cs, nil, nil)
	if err := d.Present("d.example", "tok1", "tok1.ka"); err != nil {
		t.Fatal(err)
	}
	if d.own != nil || !cs.has(HTTP01, "tok1") {
		t.Fatalf("delegate fell back (own %v) or did not publish", d.own)
	}
	release() // the holder's own orders are done: it lingers for tok1
	lingered := make(chan struct{})
	go func() { WaitLingering(ctx); close(lingered) }()
	// Still answering: the CA's validation would reach it.
	if got, err := get(addr, "tok1"); err != nil || got != "tok1.ka" {
		t.Fatalf("lingering holder answered %q, %v", got, err)
	}
	select {
	case <-lingered:
		t.Fatal("holder stopped lingering while tok1 is published")
	default:
	}
	if err := d.CleanUp("d.example", "tok1", "tok1.ka"); err != nil {
		t.Fatal(err)
	}
	<-cs.retracted
	d.done()
	<-lingered
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("port not freed after lingering: %v", err)
	}
	ln.Close()
}

// A holder that does not answer the delegate's token (here a web server of
// this program, so waiting cannot help) makes the delegate retract it and
// take the port as before, which fails at once with PortBusyError.
func TestDelegate_FallsBackWhenHolderDoesNotAnswer(t *testing.T) {
	cs := newMemChallenges()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.NotFoundHandler()}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	d := newDelegate(context.Background(), ln.Addr().String(), cs, nil, nil)
	err = d.Present("d.example", "tok2", "tok2.ka")
	var busy *PortBusyError
	if !errors.As(err, &busy) {
		t.Fatalf("Present = %v, want a PortBusyError", err)
	}
	<-cs.retracted
	if cs.has(HTTP01, "tok2") {
		t.Fatal("token left published after the fallback")
	}
}

// Once a holder decided to close, it answers no token from the store, so a
// delegate's check cannot succeed against a holder that will not stay up.
func TestHTTPResponder_ClosingAnswersNoFleetToken(t *testing.T) {
	cs := newMemChallenges()
	r := NewHTTPResponder()
	r.Share(cs, nil)
	_ = cs.PublishChallenge(context.Background(), HTTP01, "tok3", "tok3.ka", time.Minute)
	if r.keepForFleet() {
		t.Fatal("a responder that answered nothing for others wants to stay up")
	}
	if r.servedFromFleet("tok3") {
		t.Fatal("a closing responder recorded a fleet token")
	}
}

func get(addr, token string) (string, error) {
	resp, err := (&http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 5 * time.Second}).Get("http://" + addr + challengePath + token)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b := make([]byte, 256)
	n, _ := resp.Body.Read(b)
	if resp.StatusCode != http.StatusOK {
		return "", errors.New(resp.Status)
	}
	return string(b[:n]), nil
}
