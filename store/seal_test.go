package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certctl/certctl/internal/etcdtest"
	"github.com/certctl/certctl/internal/testpki"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// newSealKeyBytes returns a random store key.
func newSealKeyBytes(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, SealKeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

// sealBackend is one store, opened again with other options by open, and
// raw, which returns every stored byte (the file, or every value under
// the prefix).
type sealBackend struct {
	open func(t *testing.T, opts *Options) Backend
	raw  func(t *testing.T) []byte
	file string // the bbolt file; "" for etcd
}

// forBackends runs fn on a new bbolt store and a new etcd store.
func forBackends(t *testing.T, fn func(t *testing.T, sb sealBackend)) {
	t.Run("bolt", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "certctl.db")
		fn(t, sealBackend{
			open: func(t *testing.T, opts *Options) Backend {
				db, err := Open(path, opts)
				if err != nil {
					t.Fatal(err)
				}
				return db
			},
			raw: func(t *testing.T) []byte {
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				return b
			},
			file: path,
		})
	})
	t.Run("etcd", func(t *testing.T) {
		srv := etcdtest.StartT(t)
		u := srv.StoreURL(fmt.Sprintf("seal%d", etcdPrefixes.Add(1)))
		cli := rawClient(t, srv)
		fn(t, sealBackend{
			open: func(t *testing.T, opts *Options) Backend { return reopenEtcd(t, u, opts) },
			raw: func(t *testing.T) []byte {
				resp, err := cli.Get(testCtx(t), "\x00", clientv3.WithFromKey())
				if err != nil {
					t.Fatal(err)
				}
				var all []byte
				for _, kv := range resp.Kvs {
					all = append(append(all, kv.Value...), '\n')
				}
				return all
			},
		})
	})
}

// holdsPlain reports whether raw holds key in plaintext, as a record
// encodes it (base64 in JSON) or its PEM body.
func holdsPlain(raw, key []byte) bool {
	return bytes.Contains(raw, []byte(base64.StdEncoding.EncodeToString(key))) || bytes.Contains(raw, key)
}

// sealFixture is a store's content with real keys.
type sealFixture struct {
	ca    *testpki.CA
	certs []*Certificate
	acct  *Account
}

// keys returns every private key of the fixture.
func (f *sealFixture) keys() [][]byte {
	var out [][]byte
	for _, c := range f.certs {
		for _, v := range c.Versions {
			out = append(out, v.KeyPEM)
		}
	}
	return append(out, f.acct.KeyPEM)
}

// fill writes n certificates of 3 versions each, with real certificates
// and keys, and an account.
func fill(t *testing.T, s Backend, n int) *sealFixture {
	t.Helper()
	ctx := testCtx(t)
	f := &sealFixture{ca: testpki.NewRoot(t, "Seal Test Root")}
	for i := range n {
		name := fmt.Sprintf("seal%d.example", i)
		c := &Certificate{Name: name, Domains: []string{name}, KeyType: "ec256", Directory: "https://127.0.0.1:14000/dir"}
		for seq := 1; seq <= 3; seq++ {
			l := f.ca.Issue(t, testpki.LeafSpec{Names: []string{name}})
			c.AddVersion(Version{Seq: seq, Serial: l.Serial(), CertPEM: l.CertPEM(), ChainPEM: l.ChainPEM(), KeyPEM: l.KeyPEM(t),
				NotBefore: l.Cert.NotBefore, NotAfter: l.Cert.NotAfter})
		}
		c.Renewal.Next = t0.Add(time.Duration(i) * time.Hour)
		if err := s.Put(ctx, c); err != nil {
			t.Fatal(err)
		}
		f.certs = append(f.certs, c.Clone())
	}
	f.acct = &Account{Directory: "https://127.0.0.1:14000/dir", Email: "seal@example.com", KeyPEM: newKeyPEM(t), URI: "https://127.0.0.1/acct/1"}
	if err := s.PutAccount(ctx, f.acct); err != nil {
		t.Fatal(err)
	}
	return f
}

// verifyUsable checks that every certificate of f reads back from s with
// its keys, each matching its certificate (a TLS pair that loads), and the
// account with its key.
func verifyUsable(t *testing.T, s Backend, f *sealFixture) {
	t.Helper()
	ctx := testCtx(t)
	for _, want := range f.certs {
		got, err := s.Get(ctx, want.Name)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Versions) != len(want.Versions) {
			t.Fatalf("%s: %d versions, want %d", want.Name, len(got.Versions), len(want.Versions))
		}
		for i, v := range got.Versions {
			key, err := v.Key()
			if err != nil {
				t.Fatalf("%s: %v", want.Name, err)
			}
			if !bytes.Equal(key, want.Versions[i].KeyPEM) {
				t.Fatalf("%s version %d: key differs", want.Name, v.Seq)
			}
			if _, err := tls.X509KeyPair(v.Fullchain(), key); err != nil {
				t.Fatalf("%s version %d: %v", want.Name, v.Seq, err)
			}
		}
	}
	a, err := s.GetAccount(ctx, f.acct.Directory, f.acct.Email)
	if err != nil {
		t.Fatal(err)
	}
	if key, err := a.Key(); err != nil || !bytes.Equal(key, f.acct.KeyPEM) {
		t.Fatalf("account key: %v", err)
	}
	names := make([]string, len(f.certs))
	for i, c := range f.certs {
		names[i] = c.Name
	}
	active, err := s.LoadActive(ctx, names)
	if err != nil || len(active) != len(names) {
		t.Fatalf("LoadActive: %d, %v", len(active), err)
	}
	for _, a := range active {
		if _, err := tls.X509KeyPair(a.FullchainPEM, a.KeyPEM); err != nil {
			t.Fatalf("LoadActive %s: %v", a.Name, err)
		}
	}
}

func TestSeal_RoundTripAndReadsWithoutKey(t *testing.T) {
	forBackends(t, func(t *testing.T, sb sealBackend) {
		ctx := testCtx(t)
		key := newSealKeyBytes(t)
		s := sb.open(t, &Options{SealKey: key})
		f := fill(t, s, 2)
		raw := sb.raw(t)
		for i, k := range f.keys() {
			if holdsPlain(raw, k) {
				t.Fatalf("key %d is stored in plaintext", i)
			}
		}
		if !bytes.Contains(raw, []byte(f.certs[0].Versions[0].Serial)) {
			t.Fatal("the raw search finds nothing: it is broken")
		}
		verifyUsable(t, sb.open(t, &Options{SealKey: key}), f)

		// Without the key: records and accounts read, keys stay sealed.
		nokey := sb.open(t, nil)
		list, err := nokey.List(ctx)
		if err != nil || len(list) != 2 {
			t.Fatalf("List without the key: %d, %v", len(list), err)
		}
		v := list[0].ActiveVersion()
		if !v.KeySealed() || v.KeyPEM != nil || string(v.CertPEM) != string(f.certs[0].ActiveVersion().CertPEM) {
			t.Fatalf("version read without the key: sealed %v, key %d bytes", v.KeySealed(), len(v.KeyPEM))
		}
		if _, err := v.Key(); !errors.Is(err, ErrSealed) {
			t.Fatalf("Key without the store key: %v, want ErrSealed", err)
		}
		if _, err := nokey.LoadActive(ctx, []string{list[0].Name}); !errors.Is(err, ErrSealed) {
			t.Fatalf("LoadActive without the key: %v, want ErrSealed", err)
		}
		a, err := nokey.GetAccount(ctx, f.acct.Directory, f.acct.Email)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Key(); !errors.Is(err, ErrSealed) || !a.KeySealed() {
			t.Fatalf("account Key without the store key: %v", err)
		}
		// Writing records back without the key keeps their sealed keys.
		c := list[0]
		c.Renewal.Reason = "edited without the key"
		if err := nokey.Put(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := nokey.PutAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
		// And a wrong key is told apart.
		wrong := sb.open(t, &Options{SealKey: newSealKeyBytes(t)})
		got, err := wrong.Get(ctx, c.Name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := got.ActiveVersion().Key(); !errors.Is(err, ErrWrongKey) || errors.Is(err, ErrSealed) {
			t.Fatalf("Key with a wrong store key: %v, want ErrWrongKey", err)
		}
		if _, err := wrong.LoadActive(ctx, []string{c.Name}); !errors.Is(err, ErrWrongKey) {
			t.Fatalf("LoadActive with a wrong key: %v", err)
		}
		ga, err := wrong.GetAccount(ctx, f.acct.Directory, f.acct.Email)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ga.Key(); !errors.Is(err, ErrWrongKey) {
			t.Fatalf("account Key with a wrong key: %v", err)
		}
		s2 := sb.open(t, &Options{SealKey: key})
		verifyUsable(t, s2, f)
		if got, _ := s2.Get(ctx, c.Name); got.Renewal.Reason != "edited without the key" {
			t.Fatal("the edit made without the key is lost")
		}
	})
}

// A sealed key moved to another version, another record or an account,
// or changed by one bit, does not open.
func TestSeal_BoundToItsRecord(t *testing.T) {
	forBackends(t, func(t *testing.T, sb sealBackend) {
		ctx := testCtx(t)
		key := newSealKeyBytes(t)
		f := fill(t, sb.open(t, &Options{SealKey: key}), 2)
		nokey := sb.open(t, nil)
		a, _ := nokey.Get(ctx, f.certs[0].Name)
		b, _ := nokey.Get(ctx, f.certs[1].Name)
		acct, _ := nokey.GetAccount(ctx, f.acct.Directory, f.acct.Email)
		stolen := a.Versions[0].SealedKey
		flipped := bytes.Clone(a.Versions[2].SealedKey)
		flipped[len(flipped)-1] ^= 1
		a.Versions[1].SealedKey = stolen // another version of the same record
		a.Versions[2].SealedKey = flipped
		b.Versions[0].SealedKey = stolen // the same version of another record
		acct.SealedKey = stolen
		for _, c := range []*Certificate{a, b} {
			if err := nokey.Put(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		if err := nokey.PutAccount(ctx, acct); err != nil {
			t.Fatal(err)
		}
		s := sb.open(t, &Options{SealKey: key})
		ga, _ := s.Get(ctx, a.Name)
		gb, _ := s.Get(ctx, b.Name)
		gacct, _ := s.GetAccount(ctx, acct.Directory, acct.Email)
		if k, err := ga.Versions[0].Key(); err != nil || !bytes.Equal(k, f.certs[0].Versions[0].KeyPEM) {
			t.Fatalf("the key in its own place: %v", err)
		}
		for what, v := range map[string]*Version{"another version": &ga.Versions[1], "a flipped bit": &ga.Versions[2], "another record": &gb.Versions[0]} {
			if _, err := v.Key(); !errors.Is(err, ErrSealDamaged) {
				t.Errorf("%s: %v, want ErrSealDamaged", what, err)
			}
		}
		if _, err := gacct.Key(); !errors.Is(err, ErrSealDamaged) {
			t.Errorf("moved into an account: %v, want ErrSealDamaged", err)
		}
	})
}

// seal -> unseal -> seal -> rekey keep every key usable; the stored form
// follows each step.
func TestReseal_Conversions(t *testing.T) {
	forBackends(t, func(t *testing.T, sb sealBackend) {
		ctx := testCtx(t)
		k1, k2 := newSealKeyBytes(t), newSealKeyBytes(t)
		f := fill(t, sb.open(t, nil), 3)
		wantPlain := func(step string, plain bool) {
			t.Helper()
			raw := sb.raw(t)
			for i, k := range f.keys() {
				if holdsPlain(raw, k) != plain {
					t.Fatalf("after %s: key %d in plaintext: %v, want %v", step, i, !plain, plain)
				}
			}
		}
		reseal := func(step string, opts *Options, wantKeys int) {
			t.Helper()
			st, err := Reseal(ctx, sb.open(t, opts))
			if err != nil {
				t.Fatalf("%s: %v", step, err)
			}
			if st.Certificates != 3 || st.Accounts != 1 || st.Keys != wantKeys {
				t.Fatalf("%s: %+v", step, st)
			}
			// Again: nothing left to do.
			if st, err := Reseal(ctx, sb.open(t, opts)); err != nil || st.Certificates+st.Accounts != 0 || st.Unchanged != 4 {
				t.Fatalf("%s again: %+v, %v", step, st, err)
			}
		}
		wantPlain("filling", true)
		reseal("seal", &Options{SealKey: k1}, 10)
		wantPlain("seal", false)
		verifyUsable(t, sb.open(t, &Options{SealKey: k1}), f)
		reseal("unseal", &Options{UnsealKeys: [][]byte{k1}}, 10)
		wantPlain("unseal", true)
		verifyUsable(t, sb.open(t, nil), f)
		reseal("seal again", &Options{SealKey: k1}, 10)
		reseal("rekey", &Options{SealKey: k2, UnsealKeys: [][]byte{k1}}, 10)
		wantPlain("rekey", false)
		verifyUsable(t, sb.open(t, &Options{SealKey: k2}), f)
		c, _ := sb.open(t, &Options{SealKey: k1}).Get(ctx, f.certs[0].Name)
		if _, err := c.ActiveVersion().Key(); !errors.Is(err, ErrWrongKey) {
			t.Fatalf("old key after rekey: %v, want ErrWrongKey", err)
		}
		// Without a key that opens them, nothing is converted.
		gen0, _ := sb.open(t, nil).Generation(ctx)
		if _, err := Reseal(ctx, sb.open(t, &Options{SealKey: k1})); !errors.Is(err, ErrWrongKey) {
			t.Fatalf("reseal with the old key: %v, want ErrWrongKey", err)
		}
		if _, err := Reseal(ctx, sb.open(t, nil)); !errors.Is(err, ErrSealed) {
			t.Fatalf("unseal without a key: %v, want ErrSealed", err)
		}
		if gen, _ := sb.open(t, nil).Generation(ctx); gen != gen0 {
			t.Fatalf("a refused reseal wrote: generation %d -> %d", gen0, gen)
		}
		verifyUsable(t, sb.open(t, &Options{SealKey: k2}), f)
	})
}

// A reseal stopped midway leaves every record whole, in its old form or
// its new one; run again, it finishes.
func TestReseal_InterruptedThenResumed(t *testing.T) {
	forBackends(t, func(t *testing.T, sb sealBackend) {
		ctx := testCtx(t)
		k1, k2 := newSealKeyBytes(t), newSealKeyBytes(t)
		f := fill(t, sb.open(t, &Options{SealKey: k1}), 4)
		rctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var n int
		resealHook = func(_ context.Context, name string) {
			if n++; n == 3 {
				cancel()
			}
		}
		t.Cleanup(func() { resealHook = nil })
		if _, err := Reseal(rctx, sb.open(t, &Options{SealKey: k2, UnsealKeys: [][]byte{k1}})); !errors.Is(err, context.Canceled) {
			t.Fatalf("interrupted reseal: %v", err)
		}
		resealHook = nil
		// Every key opens with one of the two keys, none with neither.
		verifyUsable(t, sb.open(t, &Options{SealKey: k2, UnsealKeys: [][]byte{k1}}), f)
		old, moved := 0, 0
		s1 := sb.open(t, &Options{SealKey: k1})
		for _, c := range f.certs {
			got, _ := s1.Get(ctx, c.Name)
			for _, v := range got.Versions {
				if _, err := v.Key(); err == nil {
					old++
				} else if errors.Is(err, ErrWrongKey) {
					moved++
				} else {
					t.Fatal(err)
				}
			}
		}
		if sb.file != "" && moved != 0 {
			t.Fatalf("bbolt: %d keys converted by an interrupted transaction", moved)
		}
		if sb.file == "" && (moved == 0 || old == 0) {
			t.Fatalf("etcd: %d old, %d converted: the interruption was not midway", old, moved)
		}
		if _, err := Reseal(ctx, sb.open(t, &Options{SealKey: k2, UnsealKeys: [][]byte{k1}})); err != nil {
			t.Fatal(err)
		}
		verifyUsable(t, sb.open(t, &Options{SealKey: k2}), f)
	})
}

// With a store key, trimming versions and deleting records leaves no
// plaintext key in the file (it was never written), nor their sealed
// forms (the freed pages are wiped); sealing a plaintext store wipes the
// plaintext it held.
func TestSeal_NoKeyBytesLeftInFile(t *testing.T) {
	ctx := testCtx(t)
	key := newSealKeyBytes(t)
	path := filepath.Join(t.TempDir(), "certctl.db")
	plain, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := fill(t, plain, 2)
	db, err := Open(path, &Options{SealKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Reseal(ctx, db); err != nil {
		t.Fatal(err)
	}
	for i, k := range f.keys() {
		if inFile(t, path, k) {
			t.Fatalf("key %d is still in plaintext in the file after sealing", i)
		}
	}
	sealedForms := func(name string) [][]byte {
		c, err := plainView(t, path).Get(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		var out [][]byte
		for _, v := range c.Versions {
			out = append(out, v.SealedKey)
		}
		return out
	}
	fileHolds := func(b []byte) bool {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return bytes.Contains(data, []byte(base64.StdEncoding.EncodeToString(b)))
	}
	// Renew past MaxVersions while sealed: trimmed versions leave nothing.
	name := f.certs[0].Name
	c, err := db.Get(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	firstSealed := sealedForms(name)
	var added [][]byte
	for seq := 4; seq <= MaxVersions+4; seq++ {
		l := f.ca.Issue(t, testpki.LeafSpec{Names: c.Domains})
		k := l.KeyPEM(t)
		added = append(added, k)
		c.AddVersion(Version{Seq: seq, Serial: l.Serial(), CertPEM: l.CertPEM(), KeyPEM: k})
		if err := db.Put(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range firstSealed {
		if fileHolds(s) {
			t.Errorf("the sealed form of trimmed version %d is still in the file", i+1)
		}
	}
	kept := sealedForms(name)
	for i, s := range kept {
		if !fileHolds(s) {
			t.Fatalf("kept sealed key %d not found: the search is broken", i)
		}
	}
	for i, k := range append(added, f.keys()...) {
		if inFile(t, path, k) {
			t.Errorf("key %d in plaintext in the file while sealed", i)
		}
	}
	if err := db.Delete(ctx, name); err != nil {
		t.Fatal(err)
	}
	for i, s := range kept {
		if fileHolds(s) {
			t.Errorf("sealed key %d of the deleted record is still in the file", i)
		}
	}
	// Unsealing puts plaintext back (that is what it is for) and wipes the
	// sealed forms.
	other := sealedForms(f.certs[1].Name)
	if _, err := Reseal(ctx, mustOpen(t, path, &Options{UnsealKeys: [][]byte{key}})); err != nil {
		t.Fatal(err)
	}
	for i, s := range other {
		if fileHolds(s) {
			t.Errorf("sealed key %d is still in the file after unsealing", i)
		}
	}
	verifyUsable(t, mustOpen(t, path, nil), &sealFixture{certs: f.certs[1:], acct: f.acct})
}

// plainView opens the store at path without a key.
func plainView(t *testing.T, path string) *DB { return mustOpen(t, path, nil) }

func mustOpen(t *testing.T, path string, opts *Options) *DB {
	t.Helper()
	db, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestReadSealKeyFile_Forms(t *testing.T) {
	dir := t.TempDir()
	key := newSealKeyBytes(t)
	write := func(name string, data []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for name, data := range map[string][]byte{
		"raw":    key,
		"hex":    []byte(hex.EncodeToString(key) + "\n"),
		"base64": []byte("  " + base64.StdEncoding.EncodeToString(key) + "\r\n"),
	} {
		got, err := ReadSealKeyFile(write(name, data, 0o600))
		if err != nil || !bytes.Equal(got, key) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if got, err := ReadSealKeyFile(write("group", key, 0o640)); err != nil || !bytes.Equal(got, key) {
		t.Errorf("a group-readable key: %v", err)
	}
	for name, c := range map[string]struct {
		data []byte
		mode os.FileMode
		want error
	}{
		"world":   {key, 0o604, ErrUnsafePath},
		"short":   {key[:31], 0o600, ErrBadSealKey},
		"long":    {append(bytes.Clone(key), 1), 0o600, ErrBadSealKey},
		"empty":   {nil, 0o600, ErrBadSealKey},
		"badtext": {[]byte(strings.Repeat("z", 64)), 0o600, ErrBadSealKey},
	} {
		if _, err := ReadSealKeyFile(write(name, c.data, c.mode)); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(filepath.Join(dir, "raw"), link); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadSealKeyFile(link); err == nil {
		t.Error("a key file that is a symbolic link was read")
	}
	if _, err := ReadSealKeyFile(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
}

func TestGenerateSealKeyFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "store.key")
	if err := GenerateSealKeyFile(p); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v", fi.Mode(), err)
	}
	k, err := ReadSealKeyFile(p)
	if err != nil || len(k) != SealKeySize {
		t.Fatalf("read back: %d bytes, %v", len(k), err)
	}
	before, _ := os.ReadFile(p)
	if err := GenerateSealKeyFile(p); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("over an existing key: %v", err)
	}
	if after, _ := os.ReadFile(p); !bytes.Equal(before, after) {
		t.Fatal("an existing key file was replaced")
	}
	if _, err := Open(filepath.Join(t.TempDir(), "x.db"), &Options{SealKey: k[:16]}); err == nil {
		t.Fatal("a 16-byte store key was accepted")
	}
}

// Once a store is sealed, a process without the key cannot write a key in
// plaintext into it, nor one with another key seal keys under that key;
// records without plaintext keys are still written. Unsealed, plaintext
// writes are accepted again.
func TestSeal_MarkRefusesPlaintextWrites(t *testing.T) {
	forBackends(t, func(t *testing.T, sb sealBackend) {
		ctx := testCtx(t)
		k1, k2 := newSealKeyBytes(t), newSealKeyBytes(t)
		f := fill(t, sb.open(t, nil), 1)
		if _, err := Reseal(ctx, sb.open(t, &Options{SealKey: k1})); err != nil {
			t.Fatal(err)
		}
		nokey, wrong := sb.open(t, nil), sb.open(t, &Options{SealKey: k2})
		gen0, _ := nokey.Generation(ctx)
		fresh := &Certificate{Name: "fresh.example", Versions: []Version{{Seq: 1, KeyPEM: newKeyPEM(t)}}, Active: 1}
		if err := nokey.Put(ctx, fresh.Clone()); !errors.Is(err, ErrSealed) {
			t.Fatalf("plaintext key into a sealed store: %v, want ErrSealed", err)
		}
		acct := &Account{Directory: "https://127.0.0.1:14000/dir", Email: "new@example.com", KeyPEM: newKeyPEM(t)}
		if err := nokey.PutAccount(ctx, acct); !errors.Is(err, ErrSealed) {
			t.Fatalf("plaintext account key into a sealed store: %v, want ErrSealed", err)
		}
		if err := wrong.Put(ctx, fresh.Clone()); !errors.Is(err, ErrWrongKey) {
			t.Fatalf("another key into a sealed store: %v, want ErrWrongKey", err)
		}
		if gen, _ := nokey.Generation(ctx); gen != gen0 {
			t.Fatalf("refused writes wrote: generation %d -> %d", gen0, gen)
		}
		if _, err := nokey.Get(ctx, fresh.Name); !errors.Is(err, ErrNotFound) {
			t.Fatalf("refused record: %v", err)
		}
		// A record read without the key (its keys sealed) is written back.
		c, _ := nokey.Get(ctx, f.certs[0].Name)
		c.Renewal.Reason = "edited"
		if err := nokey.Put(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := sb.open(t, &Options{SealKey: k1}).Put(ctx, fresh.Clone()); err != nil {
			t.Fatal(err)
		}
		// Unsealed: plaintext writes are fine again.
		if _, err := Reseal(ctx, sb.open(t, &Options{UnsealKeys: [][]byte{k1}})); err != nil {
			t.Fatal(err)
		}
		if err := nokey.PutAccount(ctx, acct); err != nil {
			t.Fatalf("plaintext write after unsealing: %v", err)
		}
		verifyUsable(t, nokey, f)
	})
}

// Shared values (a fleet's session ticket keys) are sealed too, and
// converted by Reseal.
func TestSeal_SharedValues(t *testing.T) {
	forBackends(t, func(t *testing.T, sb sealBackend) {
		ctx := testCtx(t)
		k1, k2 := newSealKeyBytes(t), newSealKeyBytes(t)
		secret := []byte(`{"keys":[{"created":1,"key":"c2VjcmV0IHRpY2tldCBrZXkgbWF0ZXJpYWwgMzJieXRlcw=="}]}`)
		plainKey := []byte("acme-http/token: plaintext before sealing")
		if _, err := sb.open(t, nil).PutShared(ctx, "acme-http/tok", plainKey, 0, 0); err != nil {
			t.Fatal(err)
		}
		s := sb.open(t, &Options{SealKey: k1})
		if _, err := s.PutShared(ctx, "tls-session-tickets", secret, 0, 0); err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(sb.raw(t), []byte("c2VjcmV0IHRpY2tldCBr")) {
			t.Fatal("a shared value is stored in plaintext under a store key")
		}
		for _, o := range []*Options{{SealKey: k1}, {UnsealKeys: [][]byte{k1}}} {
			if v, _, err := sb.open(t, o).GetShared(ctx, "tls-session-tickets"); err != nil || !bytes.Equal(v, secret) {
				t.Fatalf("GetShared with the key: %q, %v", v, err)
			}
		}
		if _, _, err := sb.open(t, nil).GetShared(ctx, "tls-session-tickets"); !errors.Is(err, ErrSealed) {
			t.Fatalf("GetShared without the key: %v, want ErrSealed", err)
		}
		if _, _, err := sb.open(t, &Options{SealKey: k2}).GetShared(ctx, "tls-session-tickets"); !errors.Is(err, ErrWrongKey) {
			t.Fatalf("GetShared with a wrong key: %v, want ErrWrongKey", err)
		}
		if v, _, err := s.GetShared(ctx, "acme-http/tok"); err != nil || !bytes.Equal(v, plainKey) {
			t.Fatalf("a value written before sealing: %q, %v", v, err)
		}
		st, err := Reseal(ctx, sb.open(t, &Options{SealKey: k2, UnsealKeys: [][]byte{k1}}))
		if err != nil || st.Shared != 2 {
			t.Fatalf("rekey: %+v, %v", st, err)
		}
		if bytes.Contains(sb.raw(t), plainKey) {
			t.Fatal("a shared value stayed in plaintext after rekeying")
		}
		if v, _, err := sb.open(t, &Options{SealKey: k2}).GetShared(ctx, "tls-session-tickets"); err != nil || !bytes.Equal(v, secret) {
			t.Fatalf("after rekey: %q, %v", v, err)
		}
		if _, err := Reseal(ctx, sb.open(t, &Options{UnsealKeys: [][]byte{k2}})); err != nil {
			t.Fatal(err)
		}
		if v, _, err := sb.open(t, nil).GetShared(ctx, "tls-session-tickets"); err != nil || !bytes.Equal(v, secret) {
			t.Fatalf("after unseal: %q, %v", v, err)
		}
	})
}

func TestSealKeyFromEnv(t *testing.T) {
	dir := t.TempDir()
	if err := GenerateSealKeyFile(filepath.Join(dir, SealKeyCredential)); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other.key")
	if err := GenerateSealKeyFile(other); err != nil {
		t.Fatal(err)
	}
	cred, _ := ReadSealKeyFile(filepath.Join(dir, SealKeyCredential))
	want, _ := ReadSealKeyFile(other)
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if k, err := SealKeyFromEnv(env(nil)); k != nil || err != nil {
		t.Fatalf("no key: %x, %v", k, err)
	}
	if k, err := SealKeyFromEnv(env(map[string]string{"CREDENTIALS_DIRECTORY": dir})); err != nil || !bytes.Equal(k, cred) {
		t.Fatalf("credential: %v", err)
	}
	if k, err := SealKeyFromEnv(env(map[string]string{"CREDENTIALS_DIRECTORY": t.TempDir()})); k != nil || err != nil {
		t.Fatalf("credentials without the key: %x, %v", k, err)
	}
	k, err := SealKeyFromEnv(env(map[string]string{"CREDENTIALS_DIRECTORY": dir, "CERTCTL_STORE_KEY_FILE": other}))
	if err != nil || !bytes.Equal(k, want) {
		t.Fatalf("the variable first: %v", err)
	}
}
