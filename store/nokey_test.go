package store

import (
	"errors"
	"testing"
)

// A certificate ordered with the user's CSR has versions without a key: it
// is stored, sealed, resealed and loaded like any other, and asking for its
// key says it is held elsewhere.
func TestDB_CertificateWithoutKey(t *testing.T) {
	ctx := t.Context()
	sk := newSealKeyBytes(t)
	db := openTest(t, &Options{SealKey: sk})
	c := fullCert("csr.example")
	for i := range c.Versions {
		c.Versions[i].KeyPEM = nil
	}
	if err := db.Put(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := db.Put(ctx, fullCert("keyed.example")); err != nil {
		t.Fatal(err)
	}
	got, err := db.Get(ctx, "csr.example")
	if err != nil {
		t.Fatal(err)
	}
	v := got.ActiveVersion()
	if v.KeyPEM != nil || v.SealedKey != nil || v.KeySealed() {
		t.Fatalf("a version without key came back with one: %q %q", v.KeyPEM, v.SealedKey)
	}
	if _, err := v.Key(); !errors.Is(err, ErrNoKey) {
		t.Fatalf("Key() = %v, want ErrNoKey", err)
	}
	loaded, err := db.LoadActive(ctx, []string{"csr.example", "keyed.example"})
	if err != nil {
		t.Fatalf("LoadActive with a certificate without key: %v", err)
	}
	if len(loaded) != 2 || !loaded[0].KeyHeldElsewhere || loaded[0].KeyPEM != nil || loaded[1].KeyHeldElsewhere || loaded[1].KeyPEM == nil {
		t.Fatalf("LoadActive = %+v", loaded)
	}
	// Unsealing the store (reseal with the old key to open, none to seal).
	plain, err := Open(db.Path(), &Options{UnsealKeys: [][]byte{sk}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := Reseal(ctx, plain)
	if err != nil {
		t.Fatalf("resealing a store with a certificate without key: %v", err)
	}
	if st.Certificates != 1 || st.Keys != 2 || st.Unchanged != 1 {
		t.Fatalf("Reseal = %+v, want keyed.example and its 2 keys rewritten, csr.example unchanged", st)
	}
}
