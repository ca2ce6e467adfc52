package export_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certctl/certctl/export"
	"github.com/certctl/certctl/internal/proctest"
)

func TestReload_SecretsInCertctlsEnvironment_NotInherited(t *testing.T) {
	t.Setenv("CLOUDFLARE_DNS_API_TOKEN", "cf-token-must-not-leak")
	t.Setenv("CERTCTL_PFX_PASSWORD", "pfx-password-must-not-leak")
	out := filepath.Join(t.TempDir(), "env.txt")
	script := proctest.Script(t, "reload.sh", `env > "$1"`+"\n")
	if err := export.Reload(t.Context(), export.FileTarget{ReloadCmd: []string{script, out}}, nil); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	env := string(b)
	if strings.Contains(env, "must-not-leak") {
		t.Errorf("the reload command saw a secret (variables: %s)", envNames(env))
	}
	if !strings.Contains(env, "PATH="+os.Getenv("PATH")+"\n") {
		t.Errorf("the reload command has no PATH (variables: %s)", envNames(env))
	}
}

// envNames lists the variable names of env (the output of env(1)), not
// their values, which may hold the machine's own secrets.
func envNames(env string) string {
	var out []string
	for _, l := range strings.Split(env, "\n") {
		if k, _, ok := strings.Cut(l, "="); ok {
			out = append(out, k)
		}
	}
	return strings.Join(out, " ")
}
