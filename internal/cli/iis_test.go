package cli_test

import (
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/certctl/certctl/internal/acmetest"
	"github.com/certctl/certctl/internal/proctest"
)

// The IIS set-up of the README: a PFX binding with --pfx-legacy and a
// password file, and a deploy hook. The binding is stored, so a forced
// renewal writes the PFX again in the legacy profile (3DES, which go-pkcs12
// and OpenSSL 3 open) holding the new certificate, and the deploy hook is
// told where the PFX and its password file are, never the password.
func TestCLI_Renew_PFXLegacyBindingKept(t *testing.T) {
	h := newHarness(t, acmetest.Options{})
	dir := t.TempDir()
	pfx, passFile, envFile := filepath.Join(dir, "iis", "shop.pfx"), filepath.Join(dir, "pfx.pass"), filepath.Join(dir, "hook.env")
	const pass = "correct horse battery"
	if err := os.WriteFile(passFile, []byte(pass+"\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hook := proctest.Script(t, "deploy.sh", `env | grep '^CERTCTL_' | sort > "$1"`+"\n")
	h.mustRun("issue", "-d", "shop.example", "-d", "www.shop.example", "--http-addr", h.httpAddr(), "--agree-tos",
		"--pfx", pfx, "--pfx-legacy", "--pfx-password-file", passFile, "--deploy-hook", hook+" "+envFile)
	first := h.list()["shop.example"].Serial
	if got := pfxSerial(t, pfx, pass); got != first {
		t.Fatalf("issued PFX holds serial %s, want %s", got, first)
	}
	if err := os.Remove(pfx); err != nil {
		t.Fatal(err)
	}

	h.mustRun("renew", "shop.example", "--force")
	second := h.list()["shop.example"].Serial
	if second == first {
		t.Fatal("renew --force kept the serial")
	}
	if got := pfxSerial(t, pfx, pass); got != second {
		t.Fatalf("renewed PFX holds serial %s, want the new %s", got, second)
	}
	if openssl, err := exec.LookPath("openssl"); err == nil {
		cmd := exec.Command(openssl, "pkcs12", "-in", pfx, "-info", "-noout", "-passin", "env:PFXPASS")
		cmd.Env = append(os.Environ(), "PFXPASS="+pass)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC") {
			t.Fatalf("openssl on the renewed PFX: %v\n%s", err, out)
		}
	}

	b, err := os.ReadFile(envFile)
	if err != nil {
		t.Fatal(err)
	}
	env := string(b)
	for _, want := range []string{"CERTCTL_PFX_FILE=" + pfx + "\n", "CERTCTL_PFX_PASSWORD_FILE=" + passFile + "\n",
		"CERTCTL_PFX_PASSWORD_ENV=\n", "CERTCTL_SERIAL=" + second + "\n", "CERTCTL_DOMAINS=shop.example,www.shop.example\n"} {
		if !strings.Contains(env, want) {
			t.Errorf("the deploy hook's environment lacks %q:\n%s", strings.TrimSpace(want), env)
		}
	}
	if strings.Contains(env, pass) {
		t.Error("the deploy hook's environment holds the PFX password")
	}
}

// pfxSerial opens the PFX at path with go-pkcs12 and returns its leaf's
// serial as certctl writes it.
func pfxSerial(t *testing.T, path, pass string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, leaf, _, err := pkcs12.DecodeChain(b, pass)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return hex.EncodeToString(leaf.SerialNumber.Bytes())
}
