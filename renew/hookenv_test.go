package renew_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certctl/certctl/internal/proctest"
	"github.com/certctl/certctl/renew"
)

// secretEnv puts secrets a DNS-01 or PFX user has in certctl's environment.
func secretEnv(t *testing.T) {
	t.Setenv("CLOUDFLARE_DNS_API_TOKEN", "cf-token-must-not-leak")
	t.Setenv("CERTCTL_PFX_PASSWORD", "pfx-password-must-not-leak")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "aws-secret-must-not-leak")
	t.Setenv("LANG", "C.UTF-8")
}

func TestRunHook_SecretsInCertctlsEnvironment_NotInherited(t *testing.T) {
	secretEnv(t)
	out := filepath.Join(t.TempDir(), "env.txt")
	script := proctest.Script(t, "hook.sh", `env > "$1"`+"\n")
	e := renew.HookEnv{Event: renew.HookDeploy, Name: "shop", Domains: []string{"shop.example"}}
	if err := renew.RunHook(t.Context(), []string{script, out}, e, 0, nil); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	env := string(b)
	for _, secret := range []string{"cf-token-must-not-leak", "pfx-password-must-not-leak", "aws-secret-must-not-leak"} {
		if strings.Contains(env, secret) {
			t.Errorf("the hook saw %q (variables: %s)", secret, names(env))
		}
	}
	for _, want := range []string{"CERTCTL_EVENT=deploy\n", "CERTCTL_NAME=shop\n", "CERTCTL_DOMAINS=shop.example\n",
		"PATH=" + os.Getenv("PATH") + "\n", "LANG=C.UTF-8\n"} {
		if !strings.Contains(env, want) {
			t.Errorf("the hook's environment lacks %q (variables: %s)", want, names(env))
		}
	}
}

func TestRunHook_HookEnvOptIn_PassesNamedVariables(t *testing.T) {
	secretEnv(t)
	t.Setenv("MY_HOOK_SETTING", "wanted")
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("CERTCTL_HOOK_ENV", "MY_HOOK_SETTING, AWS_REGION")
	out := filepath.Join(t.TempDir(), "env.txt")
	script := proctest.Script(t, "hook.sh", `env > "$1"`+"\n")
	if err := renew.RunHook(t.Context(), []string{script, out}, renew.HookEnv{Event: renew.HookPost, Name: "a"}, 0, nil); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	env := string(b)
	for _, want := range []string{"MY_HOOK_SETTING=wanted\n", "AWS_REGION=eu-west-1\n", "CERTCTL_EVENT=post\n"} {
		if !strings.Contains(env, want) {
			t.Errorf("lacks %q (variables: %s)", want, names(env))
		}
	}
	if strings.Contains(env, "must-not-leak") {
		t.Errorf("a secret not named in CERTCTL_HOOK_ENV leaked (variables: %s)", names(env))
	}
}

// names lists the variable names of env (the output of env(1)), not their
// values, which may hold the machine's own secrets.
func names(env string) string {
	var out []string
	for _, l := range strings.Split(env, "\n") {
		if k, _, ok := strings.Cut(l, "="); ok {
			out = append(out, k)
		}
	}
	return strings.Join(out, " ")
}
