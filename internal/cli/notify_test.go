package cli_test

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certctl/certctl/internal/acmetest"
	"github.com/certctl/certctl/internal/cli"
	"github.com/certctl/certctl/internal/smtptest"
	"github.com/certctl/certctl/store"
)

const smtpPassword = "cli-Sm7p-pa55word"

// smtpFlags are the flags that mail notifications through srv.
func smtpFlags(t *testing.T, srv *smtptest.Server) []string {
	t.Helper()
	dir := t.TempDir()
	pw := filepath.Join(dir, "smtp-password")
	ca := filepath.Join(dir, "smtp-ca.pem")
	if err := os.WriteFile(pw, []byte(smtpPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ca, srv.CAPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return []string{"--smtp-url", "smtp://certctl%40example.com@" + srv.Addr, "--smtp-password-file", pw, "--smtp-ca-cert", ca,
		"--mail-from", "certctl@example.com", "--mail-to", "ops@example.com", "--mail-to", "oncall@example.com"}
}

func TestCLI_Renew_EmailsSuccessAndFailure(t *testing.T) {
	h := newHarness(t, acmetest.Options{})
	srv := smtptest.Start(t, smtptest.Options{Username: "certctl@example.com", Password: smtpPassword})
	names := []string{"m1.example", "m2.example"}
	for _, n := range names {
		h.mustRun("issue", "-d", n, "--http-addr", h.httpAddr(), "--agree-tos")
	}
	// Two refusals: the order with "replaces" and the retry without it.
	h.srv.FailNewOrders(2, http.StatusServiceUnavailable, 0)
	args := append([]string{"--log-level", "debug", "renew", "--all", "--force", "--workers", "1", "--notify-success"}, smtpFlags(t, srv)...)
	code, out, errs := h.run(args...)
	if code != cli.ExitPartial {
		t.Fatalf("exit %d, want 3\n%s\n%s", code, out, errs)
	}
	if strings.Contains(errs, smtpPassword) || strings.Contains(out, smtpPassword) {
		t.Errorf("password in output:\n%s\n%s", out, errs)
	}
	// renew returns after its notifications were delivered.
	got := map[string]string{}
	for range 2 {
		select {
		case m := <-srv.Messages:
			ev, name := m.Header.Get("X-Certctl-Event"), m.Header.Get("X-Certctl-Name")
			if m.Header.Get("Subject") != "[certctl] "+ev+": "+name || !m.TLS || m.User != "certctl@example.com" ||
				!slices.Equal(m.To, []string{"ops@example.com", "oncall@example.com"}) {
				t.Errorf("message %s %s: subject %q, TLS %v, user %q, to %q", ev, name, m.Header.Get("Subject"), m.TLS, m.User, m.To)
			}
			if !strings.Contains(m.Body, "Domains:     "+name+"\n") {
				t.Errorf("message %s %s: body\n%s", ev, name, m.Body)
			}
			if ev == "renewal_failed" && !strings.Contains(m.Body, "Error:       ") {
				t.Errorf("failure message without the error:\n%s", m.Body)
			}
			got[name] = ev
		default:
			t.Fatalf("%d messages, want 2\n%s\n%s", len(got), out, errs)
		}
	}
	evs := slices.Sorted(func(yield func(string) bool) {
		for _, e := range got {
			if !yield(e) {
				return
			}
		}
	})
	if len(got) != 2 || !slices.Equal(evs, []string{"renewal_failed", "renewed"}) {
		t.Errorf("messages %v, want one renewed and one renewal_failed, one per certificate", got)
	}
}

func TestCLI_Notify_BadInput(t *testing.T) {
	h := &harness{t: t, store: filepath.Join(t.TempDir(), "certctl.db")}
	srv := smtptest.Start(t, smtptest.Options{})
	ok := smtpFlags(t, srv)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"password in URL", []string{"--smtp-url", "smtp://u:hunter2@127.0.0.1:1", "--mail-from", "a@example.com", "--mail-to", "b@example.com"}, "holds a password"},
		{"mail-to alone", []string{"--mail-to", "b@example.com"}, "need --smtp-url"},
		{"no sender", []string{"--smtp-url", "smtp://127.0.0.1:1", "--mail-to", "b@example.com"}, "--mail-from"},
		{"no recipient", []string{"--smtp-url", "smtp://127.0.0.1:1", "--mail-from", "a@example.com"}, "--mail-to"},
		{"user without password", append(slices.Clone(ok[:2]), "--mail-from", "a@example.com", "--mail-to", "b@example.com"), "has no password"},
		{"scheme", []string{"--smtp-url", "imap://127.0.0.1:1", "--mail-from", "a@example.com", "--mail-to", "b@example.com"}, "unknown scheme"},
	} {
		for _, cmd := range []string{"renew", "daemon"} {
			var out, errb strings.Builder
			code := cli.Run(t.Context(), &cli.Deps{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }},
				append([]string{"--store", h.store, cmd}, tc.args...))
			if code != cli.ExitUsage || !strings.Contains(errb.String(), tc.want) || strings.Contains(errb.String(), "hunter2") {
				t.Errorf("%s %s: exit %d, stderr %q; want %d and %q", cmd, tc.name, code, errb.String(), cli.ExitUsage, tc.want)
			}
		}
	}
}

func TestDaemon_EmailsRenewal(t *testing.T) {
	h := newHarness(t, acmetest.Options{})
	srv := smtptest.Start(t, smtptest.Options{Username: "certctl@example.com", Password: smtpPassword})
	h.mustRun("issue", "-d", "dm.example", "--http-addr", h.httpAddr(), "--agree-tos")
	db, err := store.Open(h.store, nil)
	if err != nil {
		t.Fatal(err)
	}
	h.makeDue(t, db, "dm.example")
	args := append([]string{"--metrics-addr", "", "--http-addr", h.httpAddr(), "--log-level", "debug", "--notify-success"}, smtpFlags(t, srv)...)
	d := h.startDaemon(t, args...)
	// The liveness bound is not a measure: the message normally comes
	// within a second.
	limit := time.NewTimer(60 * time.Second)
	defer limit.Stop()
	select {
	case m := <-srv.Messages:
		if m.Header.Get("Subject") != "[certctl] renewed: dm.example" || !m.TLS || m.User != "certctl@example.com" {
			t.Errorf("message: subject %q, TLS %v, user %q", m.Header.Get("Subject"), m.TLS, m.User)
		}
	case <-d.done:
		t.Fatalf("daemon exited (%v):\n%s", d.err, d.text())
	case <-limit.C:
		t.Fatalf("no email from the daemon:\n%s", d.text())
	}
	d.waitLog(t, `msg="notification delivered"`, 20*time.Second)
	d.stop(t)
	if strings.Contains(d.text(), smtpPassword) {
		t.Errorf("password in the daemon's logs:\n%s", d.text())
	}
}
