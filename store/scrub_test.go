package store

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"testing"
)

// newKeyPEM returns a fresh P-256 private key in PEM.
func newKeyPEM(t *testing.T) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
}

// inFile reports whether the store file holds key as it is encoded in a
// record (base64 in JSON), or its PEM body as is.
func inFile(t *testing.T, path string, key []byte) bool {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := pem.Decode(key)
	return bytes.Contains(data, []byte(base64.StdEncoding.EncodeToString(key))) ||
		bytes.Contains(data, []byte(base64.StdEncoding.EncodeToString(body.Bytes)))
}

// Finding 1 of the security review: a key dropped by trimming versions, by
// removing a certificate or by replacing an account leaves no copy in the
// store file, while the keys still held are there (the search works).
func TestScrub_DroppedKeysLeaveNoTrace(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, nil)
	c := fullCert("scrub.example")
	c.Versions, c.Active = nil, 0
	var keys [][]byte
	for i := 1; i <= MaxVersions+6; i++ {
		k := newKeyPEM(t)
		keys = append(keys, k)
		v := testVersion(i)
		v.KeyPEM = k
		c.AddVersion(v)
		c.Active = v.Seq
		if err := db.Put(ctx, c); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	dropped, kept := keys[:len(keys)-MaxVersions], keys[len(keys)-MaxVersions:]
	for i, k := range dropped {
		if inFile(t, db.Path(), k) {
			t.Errorf("trimmed key %d is still in the store file", i+1)
		}
	}
	for i, k := range kept {
		if !inFile(t, db.Path(), k) {
			t.Fatalf("kept key %d not found: the search is broken", len(dropped)+i+1)
		}
	}

	acct := &Account{Directory: "https://127.0.0.1:14000/dir", Email: "a@example.com", KeyPEM: newKeyPEM(t)}
	if err := db.PutAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	oldAcct := acct.KeyPEM
	acct.KeyPEM = newKeyPEM(t)
	if err := db.PutAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	if inFile(t, db.Path(), oldAcct) {
		t.Error("a replaced account key is still in the store file")
	}
	if !inFile(t, db.Path(), acct.KeyPEM) {
		t.Fatal("the account's key is not found: the search is broken")
	}

	if err := db.Delete(ctx, c.Name); err != nil {
		t.Fatal(err)
	}
	for i, k := range kept {
		if inFile(t, db.Path(), k) {
			t.Errorf("key %d of the removed certificate is still in the store file", len(dropped)+i+1)
		}
	}
	// The store is intact and keeps working.
	db2, err := Open(db.Path(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db2.Get(ctx, c.Name); err == nil {
		t.Fatal("removed record is back")
	}
	got, err := db2.GetAccount(ctx, acct.Directory, acct.Email)
	if err != nil || !bytes.Equal(got.KeyPEM, acct.KeyPEM) {
		t.Fatalf("account after reopen: %v", err)
	}
	c2 := fullCert("after.example")
	if err := db2.Put(ctx, c2); err != nil {
		t.Fatal(err)
	}
}
