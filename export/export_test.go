package export_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/certctl/certctl/export"
	"github.com/certctl/certctl/internal/testpki"
	"software.sslmate.com/src/go-pkcs12"
)

// exportPEM is one certificate in the forms Export takes.
type exportPEM struct {
	cert, chain, key []byte
	leaf, ca         *x509.Certificate
	priv             crypto.Signer
}

// exportIssue makes a CA and a leaf for name signed by it, with a key of
// the given kind ("ec" or "rsa"); the key PEM is PKCS #1 for "rsa", PKCS #8
// for "ec".
func exportIssue(t testing.TB, name, kind string) exportPEM {
	t.Helper()
	ca := testpki.NewRoot(t, "Export Test CA "+name)
	var priv crypto.Signer = testpki.NewKey(t)
	if kind == "rsa" {
		priv = testpki.NewRSAKey(t)
	}
	l := ca.Issue(t, testpki.LeafSpec{Names: []string{name}, Key: priv})
	key := l.KeyPEM(t)
	if k, ok := priv.(*rsa.PrivateKey); ok {
		key = pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	}
	return exportPEM{cert: l.CertPEM(), chain: ca.PEM(), key: key, leaf: l.Cert, ca: ca.Cert, priv: priv}
}

func (p exportPEM) fullchain() []byte { return append(slices.Clone(p.cert), p.chain...) }

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	if runtime.GOOS == "windows" {
		return
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s: mode %v, want %v", path, got, want)
	}
}

// dirNames lists a directory, "" entries for a missing one.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestExport_PEMAndPFX_ContentAndModes(t *testing.T) {
	p := exportIssue(t, "shop.example", "ec")
	root := t.TempDir()
	target := export.FileTarget{
		Dir:         filepath.Join(root, "live"),
		PFX:         filepath.Join(root, "pfx", "shop.pfx"),
		PFXPassword: "s3cret",
	}
	got, err := export.Export("shop", p.cert, p.chain, p.key, target)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "live", "shop")
	want := export.ExportedFiles{
		Cert:      filepath.Join(dir, "cert.pem"),
		Chain:     filepath.Join(dir, "chain.pem"),
		Fullchain: filepath.Join(dir, "fullchain.pem"),
		Key:       filepath.Join(dir, "privkey.pem"),
		PFX:       target.PFX,
	}
	if got != want {
		t.Fatalf("Export = %+v, want %+v", got, want)
	}
	for _, c := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{
		{want.Cert, p.cert, 0o644},
		{want.Chain, p.chain, 0o644},
		{want.Fullchain, p.fullchain(), 0o644},
		{want.Key, p.key, 0o600},
	} {
		if b := readFile(t, c.path); !bytes.Equal(b, c.data) {
			t.Errorf("%s =\n%s\nwant\n%s", c.path, b, c.data)
		}
		checkMode(t, c.path, c.mode)
	}
	checkMode(t, dir, 0o700)
	checkMode(t, want.PFX, 0o600)
	if names := dirNames(t, dir); !slices.Equal(names, []string{"cert.pem", "chain.pem", "fullchain.pem", "privkey.pem"}) {
		t.Errorf("%s holds %q: leftovers", dir, names)
	}

	key, leaf, cas, err := pkcs12.DecodeChain(readFile(t, want.PFX), "s3cret")
	if err != nil {
		t.Fatalf("decoding PFX: %v", err)
	}
	if !leaf.Equal(p.leaf) {
		t.Error("PFX leaf differs")
	}
	if len(cas) != 1 || !cas[0].Equal(p.ca) {
		t.Errorf("PFX chain has %d certificates, want the CA", len(cas))
	}
	if k, ok := key.(*ecdsa.PrivateKey); !ok || !k.Equal(p.priv) {
		t.Errorf("PFX key %T differs", key)
	}
	if _, _, _, err := pkcs12.DecodeChain(readFile(t, want.PFX), "wrong"); err == nil {
		t.Error("PFX decoded with a wrong password")
	}
}

func TestExport_FullchainInCertPEM_SplitAndRSAKey(t *testing.T) {
	p := exportIssue(t, "rsa.example", "rsa")
	dir := t.TempDir()
	got, err := export.Export("rsa", p.fullchain(), nil, p.key, export.FileTarget{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if got.PFX != "" {
		t.Errorf("PFX %q written without a PFX path", got.PFX)
	}
	if b := readFile(t, got.Cert); !bytes.Equal(b, p.cert) {
		t.Errorf("cert.pem holds more than the leaf:\n%s", b)
	}
	if b := readFile(t, got.Chain); !bytes.Equal(b, p.chain) {
		t.Errorf("chain.pem =\n%s", b)
	}
	if b := readFile(t, got.Fullchain); !bytes.Equal(b, p.fullchain()) {
		t.Errorf("fullchain.pem =\n%s", b)
	}
}

func TestExport_PFXOnly(t *testing.T) {
	p := exportIssue(t, "iis.example", "rsa")
	path := filepath.Join(t.TempDir(), "iis.pfx")
	got, err := export.Export("iis", p.cert, p.chain, p.key, export.FileTarget{PFX: path, PFXPassword: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	if got != (export.ExportedFiles{PFX: path}) {
		t.Errorf("Export = %+v", got)
	}
	key, leaf, _, err := pkcs12.DecodeChain(readFile(t, path), "pw")
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := key.(*rsa.PrivateKey); !ok || !k.Equal(p.priv) || !leaf.Equal(p.leaf) {
		t.Error("PFX does not hold the leaf and its RSA key")
	}
}

func TestExport_InvalidInput_NothingWritten(t *testing.T) {
	p := exportIssue(t, "a.example", "ec")
	other := exportIssue(t, "b.example", "ec")
	cases := []struct {
		name             string
		cert, chain, key []byte
		want             error
	}{
		{"", p.cert, p.chain, p.key, export.ErrInvalidName},
		{".", p.cert, p.chain, p.key, export.ErrInvalidName},
		{"..", p.cert, p.chain, p.key, export.ErrInvalidName},
		{"a/b", p.cert, p.chain, p.key, export.ErrInvalidName},
		{"../up", p.cert, p.chain, p.key, export.ErrInvalidName},
		{`a\b`, p.cert, p.chain, p.key, export.ErrInvalidName},
		{"..a", p.cert, p.chain, p.key, export.ErrInvalidName},
		{"-a", p.cert, p.chain, p.key, export.ErrInvalidName},
		{"a b", p.cert, p.chain, p.key, export.ErrInvalidName},
		{"ok", p.cert, p.chain, other.key, export.ErrKeyMismatch},
		{"ok", nil, p.chain, p.key, export.ErrNoCertificate},
		{"ok", []byte("garbage"), nil, p.key, export.ErrNoCertificate},
		{"ok", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("junk")}), nil, p.key, export.ErrBadCertificate},
		{"ok", p.cert, p.chain, nil, export.ErrNoKey},
		{"ok", p.cert, p.chain, pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1}}), export.ErrNoKey},
	}
	for _, c := range cases {
		root := t.TempDir()
		target := export.FileTarget{Dir: filepath.Join(root, "live"), PFX: filepath.Join(root, "x.pfx")}
		_, err := export.Export(c.name, c.cert, c.chain, c.key, target)
		if !errors.Is(err, c.want) {
			t.Errorf("Export(%q): err = %v, want %v", c.name, err, c.want)
		}
		if names := dirNames(t, root); len(names) != 0 {
			t.Errorf("Export(%q) wrote %q", c.name, names)
		}
	}
	if _, err := export.Export("ok", p.cert, p.chain, p.key, export.FileTarget{}); !errors.Is(err, export.ErrNoTarget) {
		t.Errorf("empty target: err = %v, want ErrNoTarget", err)
	}
}

func TestWriteDir_LayoutInDirAndModes(t *testing.T) {
	p := exportIssue(t, "shop.example", "ec")
	dir := filepath.Join(t.TempDir(), "new", "out")
	got, err := export.WriteDir(dir, p.fullchain(), nil, p.key)
	if err != nil {
		t.Fatal(err)
	}
	want := export.ExportedFiles{
		Cert:      filepath.Join(dir, export.CertFile),
		Chain:     filepath.Join(dir, export.ChainFile),
		Fullchain: filepath.Join(dir, export.FullchainFile),
		Key:       filepath.Join(dir, export.KeyFile),
	}
	if got != want {
		t.Fatalf("WriteDir = %+v, want %+v", got, want)
	}
	for path, data := range map[string][]byte{want.Cert: p.cert, want.Chain: p.chain, want.Fullchain: p.fullchain(), want.Key: p.key} {
		if b := readFile(t, path); !bytes.Equal(b, data) {
			t.Errorf("%s =\n%s\nwant\n%s", path, b, data)
		}
	}
	checkMode(t, want.Key, 0o600)
	checkMode(t, want.Fullchain, 0o644)
	checkMode(t, dir, 0o700)
	checkMode(t, filepath.Dir(dir), 0o700)

	other := exportIssue(t, "other.example", "ec")
	if _, err := export.WriteDir(dir, p.cert, p.chain, other.key); !errors.Is(err, export.ErrKeyMismatch) {
		t.Errorf("mismatched key: err = %v, want ErrKeyMismatch", err)
	}
	if b := readFile(t, want.Key); !bytes.Equal(b, p.key) {
		t.Error("privkey.pem changed by a refused WriteDir")
	}
	empty := filepath.Join(t.TempDir(), "empty")
	if _, err := export.WriteDir(empty, nil, nil, p.key); !errors.Is(err, export.ErrNoCertificate) {
		t.Errorf("no certificate: err = %v, want ErrNoCertificate", err)
	}
	if _, err := os.Stat(empty); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("refused WriteDir created its directory: %v", err)
	}
}

func TestExport_DirNotWritable_Error(t *testing.T) {
	p := exportIssue(t, "a.example", "ec")
	root := t.TempDir()
	file := filepath.Join(root, "file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := export.Export("a", p.cert, p.chain, p.key, export.FileTarget{Dir: filepath.Join(file, "sub")})
	if err == nil || !strings.HasPrefix(err.Error(), "a: exporting: ") {
		t.Fatalf("err = %v, want an error starting with the subject", err)
	}
	_, err = export.Export("a", p.cert, p.chain, p.key, export.FileTarget{PFX: filepath.Join(file, "sub", "a.pfx")})
	if err == nil {
		t.Fatal("PFX under a regular file: no error")
	}
}

func TestExport_PFXFails_PEMUntouched(t *testing.T) {
	old := exportIssue(t, "a.example", "ec")
	p := exportIssue(t, "a.example", "ec")
	root := t.TempDir()
	live := filepath.Join(root, "live")
	if _, err := export.Export("a", old.cert, old.chain, old.key, export.FileTarget{Dir: live}); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(root, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// The PEM files stage fine, the PFX cannot: nothing may change.
	_, err := export.Export("a", p.cert, p.chain, p.key, export.FileTarget{Dir: live, PFX: filepath.Join(file, "a.pfx")})
	if err == nil {
		t.Fatal("no error")
	}
	dir := filepath.Join(live, "a")
	if b := readFile(t, filepath.Join(dir, "fullchain.pem")); !bytes.Equal(b, old.fullchain()) {
		t.Error("fullchain.pem changed by a failed export")
	}
	if b := readFile(t, filepath.Join(dir, "privkey.pem")); !bytes.Equal(b, old.key) {
		t.Error("privkey.pem changed by a failed export")
	}
	if names := dirNames(t, dir); len(names) != 4 {
		t.Errorf("%s holds %q: staged files left behind", dir, names)
	}
	// A first export that fails leaves no empty NAME directory either.
	if _, err := export.Export("b", p.cert, p.chain, p.key, export.FileTarget{Dir: live, PFX: filepath.Join(file, "b.pfx")}); err == nil {
		t.Fatal("no error")
	}
	if _, err := os.Stat(filepath.Join(live, "b")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("failed first export left its directory: %v", err)
	}
}

func TestExport_ConcurrentReader_NeverSeesPartialFile(t *testing.T) {
	a := exportIssue(t, "a.example", "ec")
	b := exportIssue(t, "a.example", "ec")
	dir := t.TempDir()
	target := export.FileTarget{Dir: dir}
	got, err := export.Export("a", a.cert, a.chain, a.key, target)
	if err != nil {
		t.Fatal(err)
	}
	wantA, wantB := a.fullchain(), b.fullchain()

	var stop atomic.Bool
	var reads, sawA, sawB int
	var readErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		for !stop.Load() {
			data, err := os.ReadFile(got.Fullchain)
			if err != nil {
				readErr = err
				return
			}
			reads++
			// Every read must parse to a complete chain equal to one of the two.
			var n int
			for rest := data; ; n++ {
				var blk *pem.Block
				if blk, rest = pem.Decode(rest); blk == nil {
					break
				}
				if _, err := x509.ParseCertificate(blk.Bytes); err != nil {
					readErr = err
					return
				}
			}
			switch {
			case n == 2 && bytes.Equal(data, wantA):
				sawA++
			case n == 2 && bytes.Equal(data, wantB):
				sawB++
			default:
				readErr = errors.New("read a partial or mixed fullchain.pem:\n" + string(data))
				return
			}
		}
	})
	for i := range 200 {
		p := a
		if i%2 == 0 {
			p = b
		}
		if _, err := export.Export("a", p.cert, p.chain, p.key, target); err != nil {
			stop.Store(true)
			wg.Wait()
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if readErr != nil {
		t.Fatal(readErr)
	}
	if reads == 0 || sawA+sawB != reads {
		t.Fatalf("reads %d, a %d, b %d", reads, sawA, sawB)
	}
	t.Logf("%d reads: %d of A, %d of B", reads, sawA, sawB)
	if names := dirNames(t, filepath.Join(dir, "a")); len(names) != 4 {
		t.Errorf("leftover files: %q", names)
	}
}

func BenchmarkExport(b *testing.B) {
	p := exportIssue(b, "bench.example", "ec")
	target := export.FileTarget{Dir: b.TempDir()}
	for b.Loop() {
		if _, err := export.Export("bench", p.cert, p.chain, p.key, target); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkExport_PFX(b *testing.B) {
	p := exportIssue(b, "bench.example", "ec")
	target := export.FileTarget{PFX: filepath.Join(b.TempDir(), "b.pfx"), PFXPassword: "pw"}
	for b.Loop() {
		if _, err := export.Export("bench", p.cert, p.chain, p.key, target); err != nil {
			b.Fatal(err)
		}
	}
}
