package cli_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certctl/certctl/internal/acmetest"
	"github.com/certctl/certctl/internal/cli"
)

// runWith runs certctl with the harness's globals and env as its whole
// environment.
func (h *harness) runWith(env map[string]string, args ...string) (int, string, string) {
	h.t.Helper()
	var out, errb bytes.Buffer
	code := cli.Run(context.Background(), &cli.Deps{Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }},
		append(h.globals(), args...))
	return code, out.String(), errb.String()
}

// wantOneLine checks a refusal: the exit code, and one certctl: line on
// stderr holding every part of want.
func wantOneLine(t *testing.T, what string, code int, stderr string, wantCode int, want ...string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	if code != wantCode || len(lines) != 1 || !strings.HasPrefix(lines[0], "certctl: ") {
		t.Fatalf("%s: exit %d (want %d), stderr:\n%s", what, code, wantCode, stderr)
	}
	for _, w := range want {
		if !strings.Contains(stderr, w) {
			t.Fatalf("%s: stderr lacks %q:\n%s", what, w, stderr)
		}
	}
}

// Sealing through the CLI on both backends: keygen, seal, list without
// the key, export and renew refused without it (store_sealed) and with a
// wrong one (wrong_store_key), the key from the environment and from a
// systemd credential, rekey and unseal; every step keeps the certificate
// exportable and valid.
func TestCLI_StoreSeal_Lifecycle(t *testing.T) {
	for _, kind := range backendKinds {
		t.Run(kind, func(t *testing.T) {
			h := newHarness(t, acmetest.Options{})
			h.store = newStoreURL(t, kind)
			dir := t.TempDir()
			key1, key2 := filepath.Join(dir, "store.key"), filepath.Join(dir, "new.key")
			creds := filepath.Join(dir, "creds")
			if err := os.Mkdir(creds, 0o700); err != nil {
				t.Fatal(err)
			}
			h.mustRun("store", "keygen", key1)
			h.mustRun("store", "keygen", key2)
			if st, err := os.Stat(key1); err != nil || st.Mode().Perm() != 0o600 {
				t.Fatalf("key file mode: %v", err)
			}
			before, _ := os.ReadFile(key1)
			code, _, errs := h.run("store", "keygen", key1)
			wantOneLine(t, "keygen over a key", code, errs, cli.ExitUsage, "exists")
			if after, _ := os.ReadFile(key1); !bytes.Equal(before, after) {
				t.Fatal("keygen replaced a key")
			}

			h.mustRun("issue", "-d", "seal.example", "--http-addr", h.httpAddr(), "--agree-tos")
			plainDir := filepath.Join(dir, "plain")
			h.mustRun("export", "seal.example", "--dir", plainDir)
			keyPEM, err := os.ReadFile(filepath.Join(plainDir, "privkey.pem"))
			if err != nil {
				t.Fatal(err)
			}
			inStore := func() bool {
				if kind != "bbolt" {
					return false
				}
				data, err := os.ReadFile(h.store)
				if err != nil {
					t.Fatal(err)
				}
				return bytes.Contains(data, []byte(base64.StdEncoding.EncodeToString(keyPEM)))
			}
			if kind == "bbolt" && !inStore() {
				t.Fatal("the plaintext key is not found in the store: the search is broken")
			}

			out := h.mustRun("--store-key-file", key1, "store", "seal")
			if !strings.Contains(out, "1 certificates and 1 accounts rewritten") {
				t.Fatalf("seal: %s", out)
			}
			if inStore() {
				t.Fatal("the key is still in plaintext in the store file after sealing")
			}

			// Without the key: list and show work; export and renew do not.
			if l := h.list(); l["seal.example"].Status != "valid" {
				t.Fatalf("list without the key: %+v", l)
			}
			h.mustRun("show", "seal.example")
			code, _, errs = h.run("export", "seal.example", "--dir", filepath.Join(dir, "x"))
			wantOneLine(t, "export without the key", code, errs, cli.ExitUsage, "store is sealed", "--store-key-file")
			if _, err := os.Stat(filepath.Join(dir, "x", "privkey.pem")); err == nil {
				t.Fatal("export without the key wrote a key file")
			}
			code, out, errs = h.run("renew", "seal.example", "--force", "--output", "json")
			if code != cli.ExitUsage || !strings.Contains(out, `"error_kind": "store_sealed"`) {
				t.Fatalf("renew without the key: exit %d\n%s\n%s", code, out, errs)
			}
			wantOneLine(t, "renew without the key", code, errs, cli.ExitUsage)
			code, _, errs = h.run("revoke", "seal.example")
			wantOneLine(t, "revoke without the key", code, errs, cli.ExitUsage, "store is sealed")
			code, out, errs = h.run("--email", "other@example.com", "issue", "-d", "other.example", "--http-addr", h.httpAddr(), "--agree-tos", "--output", "json")
			if code != cli.ExitUsage || !strings.Contains(out, `"error_kind": "store_sealed"`) {
				t.Fatalf("issue with a new account without the key: exit %d\n%s\n%s", code, out, errs)
			}
			if l := h.list(); len(l) != 1 {
				t.Fatalf("a refused issue left a record: %v", l)
			}
			h.mustRun("configure", "seal.example", "--http-addr", h.httpAddr())
			code, _, errs = h.run("--store-key-file", key2, "export", "seal.example", "--dir", filepath.Join(dir, "x"))
			wantOneLine(t, "export with a wrong key", code, errs, cli.ExitUsage, "wrong store key")
			code, _, errs = h.run("store", "unseal")
			wantOneLine(t, "unseal without a key", code, errs, cli.ExitUsage, "--store-key-file")

			// The key from the environment, then from a systemd credential.
			orders := h.srv.Orders()
			code, out, errs = h.runWith(map[string]string{"CERTCTL_STORE_KEY_FILE": key1}, "renew", "seal.example", "--force")
			if code != 0 || !strings.Contains(out, "RENEWED") || h.srv.Orders() == orders {
				t.Fatalf("renew with the key from the environment: exit %d\n%s\n%s", code, out, errs)
			}
			if err := os.WriteFile(filepath.Join(creds, "certctl-store-key"), before, 0o400); err != nil {
				t.Fatal(err)
			}
			exp := filepath.Join(dir, "cred")
			if code, out, errs := h.runWith(map[string]string{"CREDENTIALS_DIRECTORY": creds}, "export", "seal.example", "--dir", exp); code != 0 {
				t.Fatalf("export with the credential: exit %d\n%s\n%s", code, out, errs)
			}
			h.verifyExport(exp, "seal.example")

			// Rekey, then unseal.
			h.mustRun("--store-key-file", key1, "store", "rekey", "--new-key-file", key2)
			code, _, errs = h.run("--store-key-file", key1, "export", "seal.example", "--dir", filepath.Join(dir, "y"))
			wantOneLine(t, "export with the old key after rekey", code, errs, cli.ExitUsage, "wrong store key")
			h.mustRun("--store-key-file", key2, "export", "seal.example", "--dir", filepath.Join(dir, "rekeyed"))
			h.verifyExport(filepath.Join(dir, "rekeyed"), "seal.example")
			out = h.mustRun("--store-key-file", key2, "store", "unseal", "--output", "json")
			if !strings.Contains(out, `"action": "unsealed"`) {
				t.Fatalf("unseal JSON: %s", out)
			}
			h.mustRun("export", "seal.example", "--dir", filepath.Join(dir, "unsealed"))
			h.verifyExport(filepath.Join(dir, "unsealed"), "seal.example")
			h.mustRun("renew", "seal.example", "--force")
		})
	}
}

// A key file others can read, a missing one and one that is not a key
// are refused with one line, exit 2, before the store is touched.
func TestCLI_StoreKeyFile_Refused(t *testing.T) {
	dir := t.TempDir()
	st := filepath.Join(dir, "certctl.db")
	world := filepath.Join(dir, "world.key")
	if err := os.WriteFile(world, bytes.Repeat([]byte{7}, 32), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(world, 0o644); err != nil {
		t.Fatal(err)
	}
	short := filepath.Join(dir, "short.key")
	if err := os.WriteFile(short, []byte("c2hvcnQ=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		args []string
		env  map[string]string
		want string
	}{
		"world-readable": {[]string{"--store-key-file", world, "list"}, nil, "other users"},
		"missing":        {[]string{"list"}, map[string]string{"CERTCTL_STORE_KEY_FILE": filepath.Join(dir, "none")}, "no such file"},
		"not a key":      {[]string{"--store-key-file", short, "list"}, nil, "want 32 bytes"},
		"seal no key":    {[]string{"store", "seal"}, nil, "store keygen"},
	} {
		t.Run(name, func(t *testing.T) {
			code, _, errs := runEnv(c.env, append([]string{"--store", st}, c.args...)...)
			wantOneLine(t, name, code, errs, cli.ExitUsage, c.want)
			if _, err := os.Stat(st); err == nil {
				t.Fatal("the store was created")
			}
		})
	}
}
