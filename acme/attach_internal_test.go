package acme

import (
	"context"
	"errors"
	"testing"
	"time"
)

// closedChallenges is a store that was closed: every call fails.
type closedChallenges struct{}

var errStoreClosed = errors.New("store closed")

func (closedChallenges) PublishChallenge(context.Context, string, string, string, time.Duration) error {
	return errStoreClosed
}
func (closedChallenges) LookupChallenge(context.Context, string, string) (string, error) {
	return "", errStoreClosed
}
func (closedChallenges) RetractChallenge(context.Context, string, string, string) error {
	return errStoreClosed
}

// answer fetches token from the responder on addr: its body, or "" when
// it has no answer.
func answer(t *testing.T, addr, token string) string {
	t.Helper()
	ka, err := get(addr, token)
	if err != nil && err.Error() != "404 Not Found" {
		t.Fatal(err)
	}
	return ka
}

// Two orders of one process share the responder on one port but use
// different stores (a test binary, or an embedder managing two stores).
// Each order publishes to its own store, so the second does not fail when
// the first one's store is closed (it used to: the responder published
// every token to the first order's store), and the responder answers the
// tokens other processes published in either store.
func TestSharedResponder_EachOrderItsOwnStore(t *testing.T) {
	addr := freeAddr(t)
	ctx := context.Background()
	first, second := newMemChallenges(), newMemChallenges()

	p1, release1, r1, err := httpProvider(ctx, addr, first, nil)
	if err != nil {
		t.Fatal(err)
	}
	p2, release2, r2, err := httpProvider(ctx, addr, second, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r1 != r2 {
		t.Fatal("the two orders got different responders on one address")
	}
	if err := p1.Present("one.example", "tok1", "tok1.ka"); err != nil {
		t.Fatal(err)
	}
	if err := p2.Present("two.example", "tok2", "tok2.ka"); err != nil {
		t.Fatal(err)
	}
	if !first.has(HTTP01, "tok1") || first.has(HTTP01, "tok2") {
		t.Errorf("first store: tok1 %v (want true), tok2 %v (want false)", first.has(HTTP01, "tok1"), first.has(HTTP01, "tok2"))
	}
	if !second.has(HTTP01, "tok2") || second.has(HTTP01, "tok1") {
		t.Errorf("second store: tok2 %v (want true), tok1 %v (want false)", second.has(HTTP01, "tok2"), second.has(HTTP01, "tok1"))
	}

	// Tokens of other processes, published only in one store each.
	_ = first.PublishChallenge(ctx, HTTP01, "otherA", "otherA.ka", time.Minute)
	_ = second.PublishChallenge(ctx, HTTP01, "otherB", "otherB.ka", time.Minute)
	for tok, want := range map[string]string{"tok1": "tok1.ka", "tok2": "tok2.ka", "otherA": "otherA.ka", "otherB": "otherB.ka"} {
		if got := answer(t, addr, tok); got != want {
			t.Errorf("GET %s = %q, want %q", tok, got, want)
		}
	}

	// The first order ends and its store is closed; the second goes on.
	if err := p1.CleanUp("one.example", "tok1", "tok1.ka"); err != nil {
		t.Fatal(err)
	}
	release1()
	if first.has(HTTP01, "tok1") {
		t.Error("tok1 still published after its order's CleanUp")
	}
	p3, release3, _, err := httpProvider(ctx, addr, closedChallenges{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p3.Present("three.example", "tok3", "tok3.ka"); !errors.Is(err, errStoreClosed) {
		t.Errorf("Present through a closed store = %v, want errStoreClosed", err)
	}
	_ = p3.CleanUp("three.example", "tok3", "tok3.ka")
	release3()
	if err := p2.Present("two.example", "tok4", "tok4.ka"); err != nil {
		t.Fatalf("second order after the first store closed: %v", err)
	}
	if got := answer(t, addr, "tok4"); got != "tok4.ka" {
		t.Errorf("GET tok4 = %q, want tok4.ka", got)
	}
	_ = p2.CleanUp("two.example", "tok2", "tok2.ka")
	_ = p2.CleanUp("two.example", "tok4", "tok4.ka")
	// The other processes' orders end too, so the responder, which answered
	// for them, need not stay up for them.
	_ = first.RetractChallenge(ctx, HTTP01, "otherA", "otherA.ka")
	_ = second.RetractChallenge(ctx, HTTP01, "otherB", "otherB.ka")
	release2()
	WaitLingering(ctx)
}
