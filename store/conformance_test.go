package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/certctl/certctl/internal/etcdtest"
	"github.com/certctl/certctl/internal/storetest"
	"github.com/certctl/certctl/store"
)

func TestConformance_Bolt(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Backend {
		b, err := store.OpenURL(context.Background(), filepath.Join(t.TempDir(), "certctl.db"), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b
	})
}

func TestConformance_Etcd(t *testing.T) {
	srv := etcdtest.StartT(t)
	var n atomic.Int64
	storetest.Run(t, func(t *testing.T) store.Backend {
		// One member serves the suite; each subtest gets its own prefix.
		u := srv.StoreURL(fmt.Sprintf("conformance-%d", n.Add(1)))
		b, err := store.OpenURL(context.Background(), u, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b
	})
}

// sealedOptions are the options of the sealed variants: every promise
// holds the same with private keys sealed at rest.
func sealedOptions() *store.Options {
	return &store.Options{SealKey: []byte("0123456789abcdef0123456789abcdef")}
}

func TestConformance_BoltSealed(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Backend {
		b, err := store.OpenURL(context.Background(), filepath.Join(t.TempDir(), "certctl.db"), sealedOptions())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b
	})
}

func TestConformance_EtcdSealed(t *testing.T) {
	srv := etcdtest.StartT(t)
	var n atomic.Int64
	storetest.Run(t, func(t *testing.T) store.Backend {
		u := srv.StoreURL(fmt.Sprintf("conformance-sealed-%d", n.Add(1)))
		b, err := store.OpenURL(context.Background(), u, sealedOptions())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b
	})
}
