package renew_test

import (
	"errors"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/certctl/certctl/acme"
	"github.com/certctl/certctl/internal/acmetest"
	"github.com/certctl/certctl/renew"
	"github.com/certctl/certctl/store"
)

func TestSharedChallenges_PublishLookupRetract(t *testing.T) {
	ctx := t.Context()
	db, err := store.Open(filepath.Join(t.TempDir(), "certctl.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	cs := renew.SharedChallenges(db)
	if err := cs.PublishChallenge(ctx, acme.HTTP01, "tok", "ka1", time.Minute); err != nil {
		t.Fatal(err)
	}
	// Publishing again replaces the answer.
	if err := cs.PublishChallenge(ctx, acme.HTTP01, "tok", "ka2", time.Minute); err != nil {
		t.Fatal(err)
	}
	if ka, err := cs.LookupChallenge(ctx, acme.HTTP01, "tok"); err != nil || ka != "ka2" {
		t.Fatalf("Lookup = %q, %v; want ka2", ka, err)
	}
	if v, _, err := db.GetShared(ctx, "acme-http/tok"); err != nil || string(v) != "ka2" {
		t.Fatalf("stored at acme-http/tok: %q, %v", v, err)
	}
	// Kinds are separate spaces.
	if _, err := cs.LookupChallenge(ctx, acme.TLSALPN01, "tok"); !errors.Is(err, acme.ErrNoChallenge) {
		t.Fatalf("tls-alpn-01 lookup of an http-01 token: %v", err)
	}
	// Retracting someone else's answer keeps it; one's own removes it.
	if err := cs.RetractChallenge(ctx, acme.HTTP01, "tok", "ka1"); err != nil {
		t.Fatal(err)
	}
	if ka, _ := cs.LookupChallenge(ctx, acme.HTTP01, "tok"); ka != "ka2" {
		t.Fatalf("a stale retract removed the new answer: %q", ka)
	}
	if err := cs.RetractChallenge(ctx, acme.HTTP01, "tok", "ka2"); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.LookupChallenge(ctx, acme.HTTP01, "tok"); !errors.Is(err, acme.ErrNoChallenge) {
		t.Fatalf("after retract: %v, want ErrNoChallenge", err)
	}
	if err := cs.RetractChallenge(ctx, acme.HTTP01, "tok", "ka2"); err != nil {
		t.Fatalf("retracting a missing answer: %v", err)
	}
	if err := cs.PublishChallenge(ctx, acme.DNS01, "x", "y", time.Minute); !errors.Is(err, acme.ErrBadChallenge) {
		t.Fatalf("dns-01: %v, want ErrBadChallenge", err)
	}
	if renew.SharedChallenges(nil) != nil {
		t.Fatal("SharedChallenges(nil) is not nil")
	}
}

// A daemon that is not ordering (node B, ServeChallenges on the port the CA
// dials) answers the token of an order placed by node A.
func TestService_ServeChallenges_AnswersAnotherNodesOrder(t *testing.T) {
	e := newEnv(t, acmetest.Options{})
	nodeB := &renew.Service{Store: e.db, Solvers: renew.Solvers{Shared: e.db}}
	release, err := nodeB.ServeChallenges(t.Context(), "127.0.0.1:"+strconv.Itoa(e.srv.HTTPPort()))
	if err != nil {
		t.Fatal(err)
	}
	defer release()

	e.svc.Solvers.Shared = e.db
	tmpl := e.tmpl("a.example", "a.example")
	tmpl.Challenge.HTTPAddr = "127.0.0.1:0" // node A's own responder: the CA never dials it
	r := e.svc.Issue(t.Context(), tmpl, false)
	if r.Err != nil || r.Action != renew.ActionIssued {
		t.Fatalf("Issue through node B: %s %v", r.Action, r.Err)
	}
	e.verifyActive(t, "a.example")
}
