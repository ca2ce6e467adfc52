package certctl_test

import (
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/certctl/certctl"
	"github.com/certctl/certctl/bindings"
	"github.com/certctl/certctl/store"
)

func TestBinderSource_LoadGivesActiveVersionsAndDomains(t *testing.T) {
	ctx := t.Context()
	db, err := store.Open(filepath.Join(t.TempDir(), "certctl.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &store.Certificate{Name: "a", Domains: []string{"a.example", "www.a.example"}}
	c.AddVersion(store.Version{Seq: 1, CertPEM: []byte("leaf\n"), ChainPEM: []byte("issuer\n"), KeyPEM: []byte("key\n")})
	if err := db.Put(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := db.Put(ctx, &store.Certificate{Name: "none"}); err != nil { // no active version
		t.Fatal(err)
	}
	src := certctl.BinderSource(db)
	gen, err := src.Generation(ctx)
	if err != nil || gen != 2 {
		t.Fatalf("Generation = %d, %v; want 2", gen, err)
	}
	revs, err := src.Revisions(ctx)
	if err != nil || len(revs) != 2 || revs["a"] != c.Revision {
		t.Fatalf("Revisions = %v, %v; want a at %d and none", revs, err, c.Revision)
	}
	got, err := src.Load(ctx, []string{"missing", "none", "a"})
	if err != nil {
		t.Fatal(err)
	}
	want := bindings.Loaded{Name: "a", FullchainPEM: []byte("leaf\nissuer\n"), KeyPEM: []byte("key\n"),
		Names: c.Domains, Revision: c.Revision}
	if len(got) != 1 || got[0].Name != want.Name || string(got[0].FullchainPEM) != string(want.FullchainPEM) ||
		string(got[0].KeyPEM) != string(want.KeyPEM) || !slices.Equal(got[0].Names, want.Names) ||
		got[0].Revision != want.Revision {
		t.Fatalf("Load = %+v, want only %+v", got, want)
	}
}

func TestBinderSource_NilStoreIsNilSource(t *testing.T) {
	src := certctl.BinderSource(nil)
	if src != nil {
		t.Fatalf("BinderSource(nil) = %v, want nil", src)
	}
	if err := bindings.New(nil).Sync(t.Context(), src); !errors.Is(err, bindings.ErrNilSource) {
		t.Fatalf("Sync(BinderSource(nil)) = %v, want %v", err, bindings.ErrNilSource)
	}
	var db *store.DB
	if src := certctl.BinderSource(db); src != nil {
		t.Fatalf("BinderSource((*store.DB)(nil)) = %v, want nil", src)
	}
}
