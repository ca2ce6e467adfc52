package store

import (
	"bytes"
	"context"
	"slices"
	"testing"
)

func TestDB_LoadActive_ActiveVersion(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, nil)
	if got, err := db.LoadActive(ctx, []string{"a"}); err != nil || len(got) != 0 {
		t.Fatalf("LoadActive missing = %v, %v; want nothing and no error", got, err)
	}
	c := &Certificate{Name: "a", Domains: []string{"a.example"}}
	mustPut(t, db, c)
	if got, err := db.LoadActive(ctx, []string{"a"}); err != nil || len(got) != 0 {
		t.Fatalf("LoadActive without version = %v, %v; want nothing and no error", got, err)
	}
	c.AddVersion(testVersion(1))
	v2 := testVersion(2)
	v2.CertPEM = bytes.TrimSuffix(v2.CertPEM, []byte("\n")) // no trailing newline
	c.AddVersion(v2)
	c.Active = 2
	mustPut(t, db, c)
	b := &Certificate{Name: "b", Domains: []string{"b.example"}}
	b.AddVersion(testVersion(1))
	mustPut(t, db, b)
	got, err := db.LoadActive(ctx, []string{"b", "missing", "a"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != "b" || got[1].Name != "a" {
		t.Fatalf("LoadActive(b, missing, a) = %d values %v; want b then a", len(got), got)
	}
	a := got[1]
	wantFull := string(v2.CertPEM) + "\n" + string(v2.ChainPEM)
	if string(a.FullchainPEM) != wantFull || !bytes.Equal(a.KeyPEM, v2.KeyPEM) || a.Revision != c.Revision ||
		!slices.Equal(a.Domains, c.Domains) {
		t.Fatalf("LoadActive(a) = %q, %q, %q, %d; want %q, %q, %q, %d",
			a.FullchainPEM, a.KeyPEM, a.Domains, a.Revision, wantFull, v2.KeyPEM, c.Domains, c.Revision)
	}
	if got[0].Revision != b.Revision {
		t.Fatalf("LoadActive(b) revision %d, want %d", got[0].Revision, b.Revision)
	}
}
