package export_test

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/certctl/certctl/export"
)

// pfxProfiles are the two PFX profiles, with what `openssl pkcs12 -info`
// says of each one's encryption and MAC.
var pfxProfiles = []struct {
	name      string
	legacy    bool
	info, not []string
}{
	{"2023", false,
		[]string{"MAC: sha256", "PBES2, PBKDF2, AES-256-CBC"},
		[]string{"TripleDES", "RC2", "MAC: sha1"}},
	{"legacy", true,
		[]string{"MAC: sha1", "Encrypted data: pbeWithSHA1And3-KeyTripleDES-CBC", "Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC"},
		[]string{"AES", "RC2"}},
}

// Both PFX profiles, with and without a password, with an RSA and an EC
// key, open with go-pkcs12 and with OpenSSL 3's default provider (no
// -legacy: the legacy profile is 3DES, which OpenSSL 3 still reads; only
// RC2 needs -legacy), give back the leaf, its CA and the key, use the
// encryption documented for them, and refuse a wrong password.
func TestExport_PFXProfiles_OpenWithGoAndOpenSSL(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed (apt-get install openssl)")
	}
	for _, prof := range pfxProfiles {
		for _, kind := range []string{"rsa", "ec"} {
			for _, pass := range []string{"", "a pass phrase"} {
				t.Run(fmt.Sprintf("%s/%s/password=%q", prof.name, kind, pass), func(t *testing.T) {
					p := exportIssue(t, "iis.example", kind)
					path := filepath.Join(t.TempDir(), "iis.pfx")
					target := export.FileTarget{PFX: path, PFXPassword: pass, PFXLegacy: prof.legacy}
					if _, err := export.Export("iis", p.cert, p.chain, p.key, target); err != nil {
						t.Fatal(err)
					}
					pfx := readFile(t, path)
					checkMode(t, path, 0o600)

					key, leaf, cas, err := pkcs12.DecodeChain(pfx, pass)
					if err != nil {
						t.Fatalf("go-pkcs12: %v", err)
					}
					if !leaf.Equal(p.leaf) || len(cas) != 1 || !cas[0].Equal(p.ca) {
						t.Errorf("go-pkcs12: leaf or chain differ (%d issuers)", len(cas))
					}
					if k, ok := key.(interface{ Equal(crypto.PrivateKey) bool }); !ok || !k.Equal(p.priv) {
						t.Errorf("go-pkcs12: key %T differs", key)
					}
					if _, _, _, err := pkcs12.DecodeChain(pfx, pass+"x"); err == nil {
						t.Error("go-pkcs12 opened it with a wrong password")
					}

					info, err := runOpenSSL(openssl, pass, "pkcs12", "-in", path, "-info", "-noout")
					if err != nil {
						t.Fatalf("openssl pkcs12 -info: %v", err)
					}
					for _, s := range prof.info {
						if !strings.Contains(info, s) {
							t.Errorf("openssl -info lacks %q:\n%s", s, info)
						}
					}
					for _, s := range prof.not {
						if strings.Contains(info, s) {
							t.Errorf("openssl -info mentions %q:\n%s", s, info)
						}
					}
					out, err := runOpenSSL(openssl, pass, "pkcs12", "-in", path, "-nodes")
					if err != nil {
						t.Fatalf("openssl pkcs12 -nodes: %v", err)
					}
					checkOpenSSLOutput(t, []byte(out), p)
					if _, err := runOpenSSL(openssl, pass+"x", "pkcs12", "-in", path, "-noout"); err == nil {
						t.Error("openssl opened it with a wrong password")
					}
				})
			}
		}
	}
}

// runOpenSSL runs openssl with args, giving it pass through the
// environment (-passin env:...), and returns its output (-info writes to
// standard error, the PEM to standard output).
func runOpenSSL(openssl, pass string, args ...string) (string, error) {
	cmd := exec.Command(openssl, append(args, "-passin", "env:CERTCTL_TEST_PFX_PASS")...)
	cmd.Env = append(os.Environ(), "CERTCTL_TEST_PFX_PASS="+pass)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// checkOpenSSLOutput checks that the PEM openssl extracted holds the leaf,
// its CA and the key of p.
func checkOpenSSLOutput(t *testing.T, out []byte, p exportPEM) {
	t.Helper()
	var leaf, ca, key bool
	for {
		var b *pem.Block
		if b, out = pem.Decode(out); b == nil {
			break
		}
		switch b.Type {
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			leaf, ca = leaf || c.Equal(p.leaf), ca || c.Equal(p.ca)
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			key = k.(interface{ Equal(crypto.PrivateKey) bool }).Equal(p.priv)
		}
	}
	if !leaf || !ca || !key {
		t.Errorf("openssl's output: leaf %v, CA %v, key %v", leaf, ca, key)
	}
}
