package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/certctl/certctl/internal/acmetest"
	"github.com/certctl/certctl/internal/cli"
)

// runEnv runs certctl with the harness's globals, args and environment env.
func (h *harness) runEnv(env map[string]string, args ...string) (int, string, string) {
	h.t.Helper()
	var out, errb bytes.Buffer
	deps := &cli.Deps{Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }}
	code := cli.Run(context.Background(), deps, append(h.globals(), args...))
	return code, out.String(), errb.String()
}

func writeSecret(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// webhookSink records the event names POSTed to it, by path.
type webhookSink struct {
	srv *httptest.Server
	mu  sync.Mutex
	got map[string][]string
}

func newWebhookSink(t *testing.T) *webhookSink {
	s := &webhookSink{got: map[string][]string{}}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n struct{ Event string }
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &n)
		s.mu.Lock()
		s.got[r.URL.Path] = append(s.got[r.URL.Path], n.Event)
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *webhookSink) events(path string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.got[path]
}

// The webhook URL, a secret, can come from a file or the environment; on
// the command line a URL with a password is refused and one with a path is
// accepted with a warning.
func TestCLI_Webhook_FromFileOrEnv_PasswordOnCommandLineRefused(t *testing.T) {
	h := newHarness(t, acmetest.Options{})
	h.mustRun("issue", "-d", "hook.example", "--http-addr", h.httpAddr(), "--agree-tos")
	before := sum(t, h.store)
	sink := newWebhookSink(t)

	code, out, errs := h.run("renew", "--force", "--webhook", "https://alice:s3cr3t@127.0.0.1:1/services/x")
	if code != 2 || strings.Contains(errs, "s3cr3t") || strings.Contains(errs, "services") ||
		!strings.Contains(errs, "--webhook-file") || !strings.HasPrefix(errs, "certctl: --webhook https://127.0.0.1:1/…: ") {
		t.Fatalf("password on the command line: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if sum(t, h.store) != before {
		t.Fatal("refused renew changed the store")
	}
	if code, _, errs := h.run("renew", "--webhook", sink.srv.URL+"/a", "--webhook-file", writeSecret(t, sink.srv.URL+"/b")); code != 2 ||
		!strings.Contains(errs, "not both") {
		t.Fatalf("flag and file: exit %d, stderr %q", code, errs)
	}

	for _, tc := range []struct {
		name, path string
		args       []string
		env        map[string]string
		warn       bool
	}{
		{"file", "/from-file/T0/s3cr3t", []string{"--webhook-file", writeSecret(t, sink.srv.URL+"/from-file/T0/s3cr3t\n")}, nil, false},
		{"environment", "/from-env/T0/s3cr3t", nil, map[string]string{"CERTCTL_WEBHOOK": sink.srv.URL + "/from-env/T0/s3cr3t"}, false},
		{"flag", "/from-flag/T0/s3cr3t", []string{"--webhook", sink.srv.URL + "/from-flag/T0/s3cr3t"}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.srv.FailNewOrders(2, http.StatusInternalServerError, 0) // with replaces, then without
			code, out, errs := h.runEnv(tc.env, append([]string{"renew", "--force", "hook.example"}, tc.args...)...)
			if code != 1 {
				t.Fatalf("renew against a failing CA: exit %d, stdout %q, stderr %q", code, out, errs)
			}
			if got := sink.events(tc.path); len(got) != 1 || got[0] != "renewal_failed" {
				t.Errorf("webhook %s received %q, want one renewal_failed", tc.path, got)
			}
			if warned := strings.Contains(errs, "visible to other users"); warned != tc.warn {
				t.Errorf("warning given: %v, want %v (stderr %q)", warned, tc.warn, errs)
			}
			if strings.Contains(errs, "s3cr3t") {
				t.Errorf("stderr shows the webhook's path: %q", errs)
			}
		})
	}
}

// The EAB HMAC key, a secret, can come from a file or the environment; on
// the command line it still works, with a warning.
func TestCLI_EAB_HMACFromFileOrEnv(t *testing.T) {
	const kid, hmac = "kid-1", "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"
	h := newHarness(t, acmetest.Options{RequireEAB: true, EABKeys: map[string]string{kid: hmac}})
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		warn bool
	}{
		{"file", []string{"--eab-kid", kid, "--eab-hmac-file", writeSecret(t, hmac+"\n")}, nil, false},
		{"environment", nil, map[string]string{"CERTCTL_EAB_KID": kid, "CERTCTL_EAB_HMAC": hmac}, false},
		{"flag", []string{"--eab-kid", kid, "--eab-hmac", hmac}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.store = filepath.Join(t.TempDir(), "certctl.db") // a new account each time
			code, out, errs := h.runEnv(tc.env, append([]string{"account", "register", "--agree-tos", "-o", "json"}, tc.args...)...)
			if code != 0 {
				t.Fatalf("register: exit %d, stdout %q, stderr %q", code, out, errs)
			}
			var acct struct{ URI string }
			if err := json.Unmarshal([]byte(out), &acct); err != nil || acct.URI == "" {
				t.Fatalf("register output %q: %v", out, err)
			}
			if warned := strings.Contains(errs, "visible to other users"); warned != tc.warn {
				t.Errorf("warning given: %v, want %v (stderr %q)", warned, tc.warn, errs)
			}
			if strings.Contains(errs, hmac) {
				t.Errorf("stderr shows the HMAC key: %q", errs)
			}
		})
	}
	// Without the key the CA refuses; a key ID alone is bad input.
	h.store = filepath.Join(t.TempDir(), "certctl.db")
	if code, _, errs := h.run("account", "register", "--agree-tos", "--eab-kid", kid); code != 2 || !strings.Contains(errs, "go together") {
		t.Errorf("key ID alone: exit %d, stderr %q", code, errs)
	}
	if code, _, errs := h.run("issue", "-d", "x.example", "--agree-tos", "--eab-hmac-file", filepath.Join(t.TempDir(), "missing")); code != 2 {
		t.Errorf("missing HMAC file: exit %d, stderr %q", code, errs)
	}
}
