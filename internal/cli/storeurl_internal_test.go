package cli

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/certctl/certctl/store"
)

// An unreachable store is its own kind with a hint, exits 1, and its line
// names the store even when the backend's error does not.
func TestExplain_StoreUnreachable(t *testing.T) {
	err := fmt.Errorf("listing: dial tcp: connection refused: %w", store.ErrUnreachable)
	if e := explain(err); e.kind != "store_unreachable" || !strings.Contains(e.hint, "etcd is running") {
		t.Fatalf("explain = %+v", e)
	}
	if ExitCode(err) != ExitFailure {
		t.Fatalf("exit code %d, want %d", ExitCode(err), ExitFailure)
	}
	g := &globals{storeLoc: "etcd://10.0.0.1:2379/certctl"}
	named := g.nameStore(err)
	if !errors.Is(named, store.ErrUnreachable) || !strings.HasPrefix(named.Error(), "store etcd://10.0.0.1:2379/certctl: listing") {
		t.Fatalf("nameStore = %v", named)
	}
	already := fmt.Errorf("store etcd://10.0.0.1:2379/certctl: %w", store.ErrUnreachable)
	if g.nameStore(already) != already {
		t.Fatal("nameStore named the store twice")
	}
	other := errors.New("other")
	if g.nameStore(other) != other {
		t.Fatal("nameStore changed an error that is not about reaching the store")
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"/var/lib/certctl/certctl.db":                "/var/lib/certctl/certctl.db",
		"etcd://10.0.0.1:2379,10.0.0.2:2379/certctl": "etcd://10.0.0.1:2379,10.0.0.2:2379/certctl",
		"etcds://user:pw@10.0.0.1:2379/certctl":      "etcds://user:xxxxx@10.0.0.1:2379/certctl",
	} {
		if got := redactURL(in); got != want || strings.Contains(got, "pw@") {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
