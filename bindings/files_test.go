package bindings_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certctl/certctl/bindings"
	"software.sslmate.com/src/go-pkcs12"
)

// exportPEM is one certificate in the forms Export takes.
type exportPEM struct {
	cert, chain, key []byte
	leaf, ca         *x509.Certificate
	priv             crypto.Signer
}

// exportIssue makes a CA and a leaf for name signed by it, with a key of
// the given kind ("ec" or "rsa"), the key PEM in the given block type.
func exportIssue(t testing.TB, name, kind string) exportPEM {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Export Test CA " + name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)

	var priv crypto.Signer
	var keyBlock *pem.Block
	switch kind {
	case "rsa":
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		priv, keyBlock = k, &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}
	default:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		priv, keyBlock = k, &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(12 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, priv.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(leafDER)
	return exportPEM{
		cert:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}),
		chain: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		key:   pem.EncodeToMemory(keyBlock),
		leaf:  leaf, ca: ca, priv: priv,
	}
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
	target := bindings.FileTarget{
		Dir:         filepath.Join(root, "live"),
		PFX:         filepath.Join(root, "pfx", "shop.pfx"),
		PFXPassword: "s3cret",
	}
	got, err := bindings.Export("shop", p.cert, p.chain, p.key, target)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "live", "shop")
	want := bindings.ExportedFiles{
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
	got, err := bindings.Export("rsa", p.fullchain(), nil, p.key, bindings.FileTarget{Dir: dir})
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
	got, err := bindings.Export("iis", p.cert, p.chain, p.key, bindings.FileTarget{PFX: path, PFXPassword: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	if got != (bindings.ExportedFiles{PFX: path}) {
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
		{"", p.cert, p.chain, p.key, bindings.ErrInvalidName},
		{".", p.cert, p.chain, p.key, bindings.ErrInvalidName},
		{"..", p.cert, p.chain, p.key, bindings.ErrInvalidName},
		{"a/b", p.cert, p.chain, p.key, bindings.ErrInvalidName},
		{"../up", p.cert, p.chain, p.key, bindings.ErrInvalidName},
		{`a\b`, p.cert, p.chain, p.key, bindings.ErrInvalidName},
		{"ok", p.cert, p.chain, other.key, bindings.ErrKeyMismatch},
		{"ok", nil, p.chain, p.key, bindings.ErrNoCertificate},
		{"ok", []byte("garbage"), nil, p.key, bindings.ErrNoCertificate},
		{"ok", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("junk")}), nil, p.key, bindings.ErrBadCertificate},
		{"ok", p.cert, p.chain, nil, bindings.ErrNoKey},
		{"ok", p.cert, p.chain, pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1}}), bindings.ErrNoKey},
	}
	for _, c := range cases {
		root := t.TempDir()
		target := bindings.FileTarget{Dir: filepath.Join(root, "live"), PFX: filepath.Join(root, "x.pfx")}
		_, err := bindings.Export(c.name, c.cert, c.chain, c.key, target)
		if !errors.Is(err, c.want) {
			t.Errorf("Export(%q): err = %v, want %v", c.name, err, c.want)
		}
		if names := dirNames(t, root); len(names) != 0 {
			t.Errorf("Export(%q) wrote %q", c.name, names)
		}
	}
	if _, err := bindings.Export("ok", p.cert, p.chain, p.key, bindings.FileTarget{}); !errors.Is(err, bindings.ErrNoTarget) {
		t.Errorf("empty target: err = %v, want ErrNoTarget", err)
	}
}

func TestExport_DirNotWritable_Error(t *testing.T) {
	p := exportIssue(t, "a.example", "ec")
	root := t.TempDir()
	file := filepath.Join(root, "file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := bindings.Export("a", p.cert, p.chain, p.key, bindings.FileTarget{Dir: filepath.Join(file, "sub")})
	if err == nil || !strings.HasPrefix(err.Error(), "a: exporting: ") {
		t.Fatalf("err = %v, want an error starting with the subject", err)
	}
	_, err = bindings.Export("a", p.cert, p.chain, p.key, bindings.FileTarget{PFX: filepath.Join(file, "sub", "a.pfx")})
	if err == nil {
		t.Fatal("PFX under a regular file: no error")
	}
}

func TestExport_PFXFails_PEMUntouched(t *testing.T) {
	old := exportIssue(t, "a.example", "ec")
	p := exportIssue(t, "a.example", "ec")
	root := t.TempDir()
	live := filepath.Join(root, "live")
	if _, err := bindings.Export("a", old.cert, old.chain, old.key, bindings.FileTarget{Dir: live}); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(root, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// The PEM files stage fine, the PFX cannot: nothing may change.
	_, err := bindings.Export("a", p.cert, p.chain, p.key, bindings.FileTarget{Dir: live, PFX: filepath.Join(file, "a.pfx")})
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
	if _, err := bindings.Export("b", p.cert, p.chain, p.key, bindings.FileTarget{Dir: live, PFX: filepath.Join(file, "b.pfx")}); err == nil {
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
	target := bindings.FileTarget{Dir: dir}
	got, err := bindings.Export("a", a.cert, a.chain, a.key, target)
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
		if _, err := bindings.Export("a", p.cert, p.chain, p.key, target); err != nil {
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

func TestReadPassword_FileEnvAndErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "pw")
	if err := os.WriteFile(file, []byte("pa ss\r\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if pw, err := bindings.ReadPassword(file, "IGNORED"); err != nil || pw != "pa ss" {
		t.Errorf("from file: %q, %v", pw, err)
	}
	t.Setenv("CERTCTL_TEST_PFX_PW", "from-env\n")
	if pw, err := bindings.ReadPassword("", "CERTCTL_TEST_PFX_PW"); err != nil || pw != "from-env\n" {
		t.Errorf("from env: %q, %v", pw, err)
	}
	if _, err := bindings.ReadPassword("", "CERTCTL_TEST_PFX_PW_UNSET"); !errors.Is(err, bindings.ErrNoPassword) {
		t.Errorf("unset env: err = %v, want ErrNoPassword", err)
	}
	if _, err := bindings.ReadPassword(filepath.Join(dir, "missing"), ""); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: err = %v", err)
	}
	if pw, err := bindings.ReadPassword("", ""); err != nil || pw != "" {
		t.Errorf("none: %q, %v", pw, err)
	}
}

func reloadScript(t *testing.T, body string) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("reload scripts need /bin/sh")
	}
	p := filepath.Join(t.TempDir(), "reload.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o700); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReload_Success_RunsArgvWithoutShell(t *testing.T) {
	out := filepath.Join(t.TempDir(), "args")
	script := reloadScript(t, `printf '%s\n' "$@" > "$1"`+"\n")
	arg := "$(touch " + out + ".pwned)"
	if err := bindings.Reload(t.Context(), bindings.FileTarget{ReloadCmd: []string{script, out, arg}}, nil); err != nil {
		t.Fatal(err)
	}
	if b := readFile(t, out); string(b) != out+"\n"+arg+"\n" {
		t.Errorf("command saw %q", b)
	}
	if _, err := os.Stat(out + ".pwned"); err == nil {
		t.Error("argument was run by a shell")
	}
	if err := bindings.Reload(t.Context(), bindings.FileTarget{}, nil); err != nil {
		t.Errorf("no command: %v", err)
	}
}

func TestReload_Failing_ErrorWithOutput(t *testing.T) {
	script := reloadScript(t, "echo 'nginx: [emerg] bad config' >&2\nexit 1\n")
	err := bindings.Reload(t.Context(), bindings.FileTarget{ReloadCmd: []string{script}}, nil)
	if err == nil || !strings.Contains(err.Error(), "bad config") || !strings.Contains(err.Error(), "exit status 1") {
		t.Fatalf("err = %v, want the exit status and output", err)
	}
	if err := bindings.Reload(t.Context(), bindings.FileTarget{ReloadCmd: []string{"certctl-no-such-reload-xyz"}}, nil); err == nil {
		t.Error("missing command: no error")
	}
}

func TestReload_Hanging_KilledAtTimeout(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	script := reloadScript(t, "sleep 60 &\necho $! > \""+pidFile+"\"\nwait\n")
	// On a loaded machine the timeout may pass before the child started;
	// then try again with a longer one.
	for _, timeout := range []time.Duration{200 * time.Millisecond, 2 * time.Second, 10 * time.Second} {
		_ = os.Remove(pidFile)
		err := bindings.Reload(t.Context(), bindings.FileTarget{ReloadCmd: []string{script}, ReloadTimeout: timeout}, nil)
		if !errors.Is(err, bindings.ErrCommandTimeout) {
			t.Fatalf("err = %v, want ErrCommandTimeout", err)
		}
		if b, _ := os.ReadFile(pidFile); len(b) > 0 && b[len(b)-1] == '\n' {
			break
		}
	}
	// The child in the command's process group is gone too.
	pid := strings.TrimSpace(string(readFile(t, pidFile)))
	for i := 0; ; i++ {
		b, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil {
			break // gone
		}
		s := string(b)
		if j := strings.LastIndexByte(s, ')'); j >= 0 && j+2 < len(s) && (s[j+2] == 'Z' || s[j+2] == 'X') {
			break // dead, not yet reaped
		}
		if i == 500 {
			t.Fatalf("child %s still runs", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func BenchmarkExport(b *testing.B) {
	p := exportIssue(b, "bench.example", "ec")
	target := bindings.FileTarget{Dir: b.TempDir()}
	for b.Loop() {
		if _, err := bindings.Export("bench", p.cert, p.chain, p.key, target); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkExport_PFX(b *testing.B) {
	p := exportIssue(b, "bench.example", "ec")
	target := bindings.FileTarget{PFX: filepath.Join(b.TempDir(), "b.pfx"), PFXPassword: "pw"}
	for b.Loop() {
		if _, err := bindings.Export("bench", p.cert, p.chain, p.key, target); err != nil {
			b.Fatal(err)
		}
	}
}
