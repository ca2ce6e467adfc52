package cli_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certctl/certctl/internal/cli"
	"github.com/certctl/certctl/internal/etcdtest"
	"github.com/certctl/certctl/store"
)

// runEnv runs certctl in-process with env as its whole environment.
func runEnv(env map[string]string, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := cli.Run(context.Background(), &cli.Deps{Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }}, args)
	return code, out.String(), errb.String()
}

// backendKinds are the store backends the store tests run on.
var backendKinds = []string{"bbolt", "etcd"}

var etcdPrefixes atomic.Int64

// newStoreURL returns the URL of a new, empty store of kind ("bbolt": a
// file in a temporary directory; "etcd": a fresh prefix on an embedded
// etcd).
func newStoreURL(t *testing.T, kind string) string {
	t.Helper()
	switch kind {
	case "bbolt":
		return filepath.Join(t.TempDir(), "certctl.db")
	case "etcd":
		srv := etcdtest.StartT(t)
		u := srv.StoreURL("certctl-test-" + string(rune('a'+etcdPrefixes.Add(1)%26)))
		b, err := store.OpenURL(context.Background(), u, nil)
		if err != nil {
			t.Fatal(err)
		}
		_ = b.Close()
		return u
	}
	t.Fatalf("unknown backend %q", kind)
	return ""
}

// openURL opens the store u for the test.
func openURL(t *testing.T, u string) store.Backend {
	t.Helper()
	b, err := store.OpenURL(context.Background(), u, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// selfSigned is a version holding a real self-signed certificate for name
// and its key.
func selfSigned(t *testing.T, name string, seq int, notBefore time.Time) store.Version {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial := big.NewInt(int64(1000 + seq))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: notBefore, NotAfter: notBefore.Add(90 * 24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return store.Version{Seq: seq, Serial: serial.Text(16),
		CertPEM:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		ChainPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:    pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}),
		NotBefore: tmpl.NotBefore.UTC(), NotAfter: tmpl.NotAfter.UTC(), Issued: notBefore.UTC(),
		CertURL: "https://ca.example/cert/" + serial.Text(16)}
}

// fillStore writes a varied set of records to s: a certificate with five
// versions rolled back to the fourth, with ARI, renewal state, hooks and
// bindings; one with a revoked version; one never issued; two accounts.
func fillStore(t *testing.T, s store.Store) {
	t.Helper()
	ctx := context.Background()
	base := time.Now().Add(-100 * 24 * time.Hour).Truncate(time.Second)

	a := &store.Certificate{Name: "a.example", Domains: []string{"a.example", "www.a.example"}, KeyType: "ec256",
		Challenge: store.Challenge{Type: "http-01", HTTPAddr: "127.0.0.1:5002"}, Directory: "https://ca.example/dir",
		Email: "ops@example.com", Profile: "shortlived", PreferredChain: "Root X2",
		Hooks:    store.Hooks{Deploy: []string{"systemctl", "reload", "nginx"}, Failure: []string{"logger", "failed"}},
		Bindings: []store.FileBinding{{Dir: "/etc/ssl/certctl", ReloadCmd: []string{"true"}}}}
	for i := 1; i <= store.MaxVersions; i++ {
		a.AddVersion(selfSigned(t, "a.example", i, base.Add(time.Duration(i)*24*time.Hour)))
	}
	a.Active = 4
	a.ARI = store.ARIState{WindowStart: base.Add(60 * 24 * time.Hour).UTC(), WindowEnd: base.Add(61 * 24 * time.Hour).UTC(),
		Chosen: base.Add(60*24*time.Hour + time.Hour).UTC(), Fetched: base.UTC(), CertID: "aki.serial",
		ExplanationURL: "https://ca.example/why"}
	a.Renewal = store.RenewalState{Next: base.Add(60 * 24 * time.Hour).UTC(), Reason: "ARI window", Attempts: 2,
		LastError: "a.example: rate limited", LastAttempt: base.UTC(), LastSuccess: base.Add(-time.Hour).UTC()}

	b := &store.Certificate{Name: "b.example", Domains: []string{"b.example"}, KeyType: "ec256",
		Challenge: store.Challenge{Type: "dns-01", DNSProvider: "cloudflare", DNSResolvers: []string{"1.1.1.1:53"}},
		Directory: "https://other.example/dir"}
	b.AddVersion(selfSigned(t, "b.example", 1, base))
	b.AddVersion(selfSigned(t, "b.example", 2, base.Add(24*time.Hour)))
	b.Versions[0].Revoked, b.Versions[0].RevokedAt, b.Versions[0].RevokeReason = true, base.Add(25*time.Hour).UTC(), 4
	b.Versions[1].Replaces = "aki.1000"

	c := &store.Certificate{Name: "c.example", Domains: []string{"c.example"}, KeyType: "rsa2048",
		Challenge: store.Challenge{Type: "tls-alpn-01", TLSAddr: "127.0.0.1:5001"}, Directory: "https://ca.example/dir"}
	c.Renewal.Next = time.Now().UTC().Truncate(time.Second)

	for _, x := range []*store.Certificate{a, b, c} {
		if err := s.Put(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	for _, acct := range []*store.Account{
		{Directory: "https://ca.example/dir", Email: "ops@example.com", KeyPEM: []byte("key one"), URI: "https://ca.example/acct/1",
			KeyType: "ec256", TOSAgreed: true},
		{Directory: "https://other.example/dir", KeyPEM: []byte("key two"), URI: "https://other.example/acct/9", KeyType: "ec384"},
	} {
		if err := s.PutAccount(ctx, acct); err != nil {
			t.Fatal(err)
		}
	}
}

// dump is every record of s as JSON, without what a copy does not keep
// (revisions, the time of the last write).
func dump(t *testing.T, s store.Store) (certs, accts []string) {
	t.Helper()
	ctx := context.Background()
	cs, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		c.Updated = time.Time{}
		j, _ := json.Marshal(c)
		certs = append(certs, string(j))
	}
	as, err := s.ListAccounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range as {
		j, _ := json.Marshal(a)
		accts = append(accts, string(j))
	}
	return certs, accts
}

func sameDump(t *testing.T, what string, src, dst store.Store) {
	t.Helper()
	sc, sa := dump(t, src)
	dc, da := dump(t, dst)
	if strings.Join(sc, "\n") != strings.Join(dc, "\n") || strings.Join(sa, "\n") != strings.Join(da, "\n") {
		t.Fatalf("%s: destination differs from source\nsource:\n%s\n%s\ndestination:\n%s\n%s", what,
			strings.Join(sc, "\n"), strings.Join(sa, "\n"), strings.Join(dc, "\n"), strings.Join(da, "\n"))
	}
}

// A copy holds every certificate with all its versions, ARI and renewal
// state, and every account; it is reported and verified; the active
// version exported from the copy is a working certificate and key; the
// copied file store is private.
func TestCLI_StoreCopy_CopiesEverything(t *testing.T) {
	srcURL, dstURL := newStoreURL(t, "bbolt"), newStoreURL(t, "bbolt")
	src := openURL(t, srcURL)
	fillStore(t, src)

	code, out, errs := runEnv(nil, "store", "copy", "--from", srcURL, "--to", dstURL)
	if code != 0 || errs != "" {
		t.Fatalf("store copy: exit %d\n%s%s", code, out, errs)
	}
	if !strings.Contains(out, "Copied 3 certificates (7 versions) and 2 accounts") || !strings.Contains(out, "verified") {
		t.Fatalf("store copy output: %q", out)
	}
	dst := openURL(t, dstURL)
	sameDump(t, "bbolt to bbolt", src, dst)
	if st, err := os.Stat(dstURL); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("destination mode: %v %v", st, err)
	}

	// The rolled-back active version comes out of the copy as a working
	// certificate and key.
	exp := filepath.Join(t.TempDir(), "out")
	if code, out, errs := runEnv(nil, "--store", dstURL, "export", "a.example", "--dir", exp); code != 0 {
		t.Fatalf("export from the copy: exit %d %s%s", code, out, errs)
	}
	full, _ := os.ReadFile(filepath.Join(exp, "fullchain.pem"))
	key, _ := os.ReadFile(filepath.Join(exp, "privkey.pem"))
	pair, err := tls.X509KeyPair(full, key)
	if err != nil {
		t.Fatalf("exported pair: %v", err)
	}
	leaf, _ := x509.ParseCertificate(pair.Certificate[0])
	if leaf.SerialNumber.Text(16) != "3ec" || leaf.VerifyHostname("www.a.example") != nil && leaf.VerifyHostname("a.example") != nil {
		t.Fatalf("exported serial %x, want the active version 4 (3ec)", leaf.SerialNumber)
	}

	// JSON output.
	dst2 := newStoreURL(t, "bbolt")
	code, out, _ = runEnv(nil, "store", "copy", "--from", srcURL, "--to", dst2, "--output", "json")
	var res map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res["certificates"] != 3.0 || res["versions"] != 7.0 ||
		res["accounts"] != 2.0 || res["verified"] != true || res["to"] == "" || res["from"] == "" {
		t.Fatalf("store copy --output json: exit %d %s", code, out)
	}
}

// A destination that holds records is refused without --force (one line,
// exit 2, nothing written); with --force the source's records replace
// theirs and the destination's other records are kept.
func TestCLI_StoreCopy_NonEmptyDestination(t *testing.T) {
	srcURL, dstURL := newStoreURL(t, "bbolt"), newStoreURL(t, "bbolt")
	src, dst := openURL(t, srcURL), openURL(t, dstURL)
	fillStore(t, src)
	ctx := context.Background()
	old := &store.Certificate{Name: "a.example", Domains: []string{"old.example"}, KeyType: "ec256", Directory: "https://x.example/dir"}
	other := &store.Certificate{Name: "z.example", Domains: []string{"z.example"}, KeyType: "ec256", Directory: "https://x.example/dir"}
	for _, c := range []*store.Certificate{old, other} {
		if err := dst.Put(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	gen, _ := dst.Generation(ctx)

	code, out, errs := runEnv(nil, "store", "copy", "--from", srcURL, "--to", dstURL)
	if code != cli.ExitUsage || out != "" || strings.Count(errs, "\n") != 1 ||
		!strings.Contains(errs, "not empty (2 certificates, 0 accounts)") || !strings.Contains(errs, "--force") {
		t.Fatalf("copy into a non-empty store: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if g, _ := dst.Generation(ctx); g != gen {
		t.Fatalf("refused copy wrote: generation %d -> %d", gen, g)
	}
	if c, _ := dst.Get(ctx, "a.example"); c.Domains[0] != "old.example" {
		t.Fatalf("refused copy changed a record: %+v", c)
	}

	code, out, errs = runEnv(nil, "store", "copy", "--from", srcURL, "--to", dstURL, "--force")
	if code != 0 || !strings.Contains(out, "1 replaced, 1 other certificates kept") {
		t.Fatalf("copy --force: exit %d %s%s", code, out, errs)
	}
	if err := dst.Delete(ctx, "z.example"); err != nil {
		t.Fatalf("the destination's own record was not kept: %v", err)
	}
	sameDump(t, "after --force", src, dst)
}

// A source that is not a store, or that does not exist, or the same store
// as the destination: one line, exit 2, nothing written anywhere.
func TestCLI_StoreCopy_BadSource(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.db")
	content := bytes.Repeat([]byte("not a store "), 1000)
	if err := os.WriteFile(junk, content, 0o600); err != nil {
		t.Fatal(err)
	}
	dstURL := filepath.Join(dir, "dst.db")
	missing := filepath.Join(dir, "missing.db")
	good := newStoreURL(t, "bbolt")
	fillStore(t, openURL(t, good))
	cases := []struct {
		name, from, to, want string
		lines                int // 2 when a usage error adds "Run ... --help"
	}{
		{"not a store", junk, dstURL, "not a certctl store", 1},
		{"missing", missing, dstURL, "no store there", 1},
		{"same store", good, good, "same store", 1},
		{"no destination", good, "", "--from and --to are both required", 2},
		{"unknown scheme", "ftp://x/y", dstURL, "unknown scheme", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runEnv(nil, "store", "copy", "--from", tc.from, "--to", tc.to)
			if code != cli.ExitUsage {
				t.Fatalf("exit %d, want %d; stderr %q", code, cli.ExitUsage, errs)
			}
			if first, _, _ := strings.Cut(errs, "\n"); out != "" || strings.Count(errs, "\n") != tc.lines || !strings.Contains(first, tc.want) {
				t.Fatalf("stdout %q, stderr %q; want %d line(s), the first with %q", out, errs, tc.lines, tc.want)
			}
			for _, p := range []string{dstURL, missing} {
				if _, err := os.Stat(p); !os.IsNotExist(err) {
					t.Fatalf("%s was created", p)
				}
			}
			if b, _ := os.ReadFile(junk); !bytes.Equal(b, content) {
				t.Fatal("the file that is not a store was changed")
			}
		})
	}
	sameDump(t, "the good source after being refused as its own destination", openURL(t, good), openURL(t, good))
}

// Copies between backends, in every direction, are complete and verified;
// a copy back to a new file equals the original.
func TestCLI_StoreCopy_AcrossBackends(t *testing.T) {
	for _, from := range backendKinds {
		for _, to := range backendKinds {
			t.Run(from+"_to_"+to, func(t *testing.T) {
				srcURL, dstURL := newStoreURL(t, from), newStoreURL(t, to)
				src := openURL(t, srcURL)
				fillStore(t, src)
				code, out, errs := runEnv(nil, "store", "copy", "--from", srcURL, "--to", dstURL)
				if code != 0 || !strings.Contains(out, "Copied 3 certificates (7 versions) and 2 accounts") {
					t.Fatalf("store copy: exit %d %s%s", code, out, errs)
				}
				sameDump(t, from+" to "+to, src, openURL(t, dstURL))
				back := newStoreURL(t, "bbolt")
				if code, out, errs := runEnv(nil, "store", "copy", "--from", dstURL, "--to", back); code != 0 {
					t.Fatalf("copy back: exit %d %s%s", code, out, errs)
				}
				sameDump(t, "round trip", src, openURL(t, back))
			})
		}
	}
}
