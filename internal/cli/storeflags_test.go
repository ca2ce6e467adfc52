package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certctl/certctl/internal/cli"
)

// The etcd settings are checked before anything is opened, each mistake
// in one line with exit 2, and a password never appears in a message or
// as a flag.
func TestCLI_EtcdSettings_BadInput(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("s3cret-pass\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const u = "etcd://127.0.0.1:1/certctl"
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"password twice", map[string]string{"CERTCTL_ETCD_USERNAME": "certctl", "CERTCTL_ETCD_PASSWORD": "s3cret-pass"},
			[]string{"--etcd-password-file", pwFile}, "give one"},
		{"password file from env, no user", map[string]string{"CERTCTL_ETCD_PASSWORD_FILE": pwFile}, nil, "CERTCTL_ETCD_USERNAME"},
		{"password, no user", map[string]string{"CERTCTL_ETCD_PASSWORD": "s3cret-pass"}, nil, "CERTCTL_ETCD_USERNAME"},
		{"missing password file", map[string]string{"CERTCTL_ETCD_USERNAME": "u"}, []string{"--etcd-password-file", filepath.Join(dir, "nope")}, "no such file"},
		{"empty password file", map[string]string{"CERTCTL_ETCD_USERNAME": "u"}, []string{"--etcd-password-file", empty}, "empty"},
		{"lock ttl too short", nil, []string{"--etcd-lock-ttl", "1s"}, "want 5s to 10m"},
		{"dial timeout too long", nil, []string{"--etcd-dial-timeout", "2m"}, "want 1s to 1m"},
		{"cert without key", nil, []string{"--etcd-cert", pwFile}, "go together"},
		{"missing CA from env", map[string]string{"CERTCTL_ETCD_CA": filepath.Join(dir, "ca.pem")}, nil, "--etcd-ca"},
		{"no password flag", nil, []string{"--etcd-password", "s3cret-pass"}, "unknown flag"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runEnv(tc.env, append([]string{"--store", u, "list"}, tc.args...)...)
			first, _, _ := strings.Cut(errs, "\n")
			if code != cli.ExitUsage || out != "" || !strings.Contains(first, tc.want) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit 2 and %q", code, out, errs, tc.want)
			}
			if strings.Contains(errs, "s3cret") && tc.name != "no password flag" {
				t.Fatalf("the password was printed: %q", errs)
			}
		})
	}
}

// The etcd settings do not get in the way of a file store; CERTCTL_STORE
// takes a path or a URL.
func TestCLI_StoreURL_FileForms(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"CERTCTL_ETCD_PASSWORD_FILE": filepath.Join(dir, "missing"), "CERTCTL_ETCD_CA": filepath.Join(dir, "missing.pem"),
		"CERTCTL_STORE": "file://" + filepath.Join(dir, "env.db")}
	if code, out, errs := runEnv(env, "list", "--etcd-lock-ttl", "1s"); code != 0 || !strings.Contains(out, "No certificates") {
		t.Fatalf("list on a file store from CERTCTL_STORE=file://: exit %d %s%s", code, out, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "env.db")); err != nil {
		t.Fatalf("CERTCTL_STORE=file://... not used: %v", err)
	}
	code, _, errs := runEnv(map[string]string{"CERTCTL_STORE": "ftp://127.0.0.1/x"}, "list")
	if code != cli.ExitUsage || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, "unknown scheme") {
		t.Fatalf("CERTCTL_STORE with an unknown scheme: exit %d %q", code, errs)
	}
}

// With etcd not reachable, a command fails with exit 1 and one line that
// names the endpoint and says what to check.
func TestCLI_EtcdUnreachable_OneLine(t *testing.T) {
	addr := freeAddr(t) // nothing listens there
	code, out, errs := runEnv(nil, "--store", "etcd://"+addr+"/certctl", "list")
	if code != cli.ExitFailure || out != "" || strings.Count(errs, "\n") != 1 ||
		!strings.Contains(errs, addr) || !strings.Contains(errs, "that etcd is running") {
		t.Fatalf("exit %d, stdout %q, stderr %q; want exit 1 and one line naming %s with a hint", code, out, errs, addr)
	}
}
