package renew_test

import (
	"crypto/x509"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/certctl/certctl/internal/smtptest"
	"github.com/certctl/certctl/renew"
)

const (
	mailUser     = "alerts@example.com"
	mailPassword = "s3cret-Pa55word-never-logged"
)

// mailNotifier returns a Notifier that mails through srv (smtp:// or
// smtps://) as mailUser, sending every event, logging to logs at debug.
func mailNotifier(t *testing.T, srv *smtptest.Server, scheme string, logs *syncBuffer) *renew.Notifier {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(srv.CAPEM) {
		t.Fatal("bad CA PEM")
	}
	u := &url.URL{Scheme: scheme, User: url.User(mailUser), Host: srv.Addr}
	m := &renew.Mail{URL: u.String(), Password: mailPassword, From: "certctl <certctl@example.com>",
		To: []string{"ops@example.com", "oncall@example.com"}, RootCAs: pool, Hostname: "node1.example"}
	if err := m.Check(); err != nil {
		t.Fatal(err)
	}
	return &renew.Notifier{Mail: m, Backoff: time.Millisecond,
		Events: []renew.NotifyEvent{renew.NotifyRenewalFailed, renew.NotifyExpiring, renew.NotifyIssued, renew.NotifyRenewed},
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
}

// received returns the messages srv has received so far.
func received(srv *smtptest.Server) []smtptest.Message {
	var out []smtptest.Message
	for {
		select {
		case m := <-srv.Messages:
			out = append(out, m)
		default:
			return out
		}
	}
}

func TestMail_STARTTLSAndImplicitTLS_SuccessAndFailure(t *testing.T) {
	notAfter := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	at := time.Date(2029, 12, 1, 6, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		scheme   string
		implicit bool
	}{{"smtp", false}, {"smtps", true}} {
		t.Run(tc.scheme, func(t *testing.T) {
			srv := smtptest.Start(t, smtptest.Options{Username: mailUser, Password: mailPassword, ImplicitTLS: tc.implicit})
			var logs syncBuffer
			n := mailNotifier(t, srv, tc.scheme, &logs)
			n.Notify(renew.Notification{Event: renew.NotifyRenewed, Name: "www", Domains: []string{"www.example", "example"},
				NotAfter: notAfter, Time: at})
			n.Notify(renew.Notification{Event: renew.NotifyRenewalFailed, Name: "api", Domains: []string{"api.example"},
				Error: "api: validation failed: connection refused", NotAfter: notAfter, Time: at})
			closeNotifier(t, n)

			msgs := received(srv)
			if len(msgs) != 2 {
				t.Fatalf("%d messages, want 2\nlogs:\n%s", len(msgs), logs.String())
			}
			for i, want := range []struct{ event, name, subject, line string }{
				{"renewed", "www", "[certctl] renewed: www", "Domains:     www.example, example\n"},
				{"renewal_failed", "api", "[certctl] renewal_failed: api", "Error:       api: validation failed: connection refused\n"},
			} {
				m := msgs[i]
				if !m.TLS || m.User != mailUser {
					t.Errorf("%s: TLS %v, user %q; want TLS as %s", want.event, m.TLS, m.User, mailUser)
				}
				if m.From != "certctl@example.com" || !slices.Equal(m.To, []string{"ops@example.com", "oncall@example.com"}) {
					t.Errorf("%s: envelope from %q to %q", want.event, m.From, m.To)
				}
				h := m.Header
				if h.Get("Subject") != want.subject || h.Get("X-Certctl-Event") != want.event || h.Get("X-Certctl-Name") != want.name {
					t.Errorf("%s: headers Subject %q, X-Certctl-Event %q, X-Certctl-Name %q", want.event,
						h.Get("Subject"), h.Get("X-Certctl-Event"), h.Get("X-Certctl-Name"))
				}
				if !strings.Contains(h.Get("From"), "certctl@example.com") || !strings.Contains(h.Get("To"), "oncall@example.com") ||
					!strings.HasPrefix(h.Get("Content-Type"), "text/plain") || h.Get("Message-Id") == "" {
					t.Errorf("%s: headers %v", want.event, h)
				}
				if d, err := h.Date(); err != nil || !d.Equal(at) {
					t.Errorf("%s: Date %v (%v), want %v", want.event, d, err, at)
				}
				for _, line := range []string{want.line, "Event:       " + want.event + "\n", "Certificate: " + want.name + "\n",
					"Expires:     2030-01-02T03:04:05Z\n", "Time:        2029-12-01T06:00:00Z\n", "Host:        node1.example\n"} {
					if !strings.Contains(m.Body, line) {
						t.Errorf("%s: body lacks %q:\n%s", want.event, line, m.Body)
					}
				}
			}
			if strings.Contains(msgs[0].Body, "Error:") {
				t.Errorf("success mail has an error line:\n%s", msgs[0].Body)
			}
			if p := srv.PlaintextPasswords(); len(p) > 0 {
				t.Errorf("password sent before TLS: %q", p)
			}
			if strings.Contains(logs.String(), mailPassword) {
				t.Errorf("password in logs:\n%s", logs.String())
			}
		})
	}
}

func TestMail_WrongPassword_NotRetriedNeverLogged(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{Username: mailUser, Password: "the-right-one"})
	var logs syncBuffer
	n := mailNotifier(t, srv, "smtp", &logs)
	n.Notify(renew.Notification{Event: renew.NotifyRenewalFailed, Name: "www"})
	closeNotifier(t, n)
	if got := srv.AuthFailures(); got != 1 {
		t.Errorf("%d AUTH attempts, want 1 (a refused password is not retried)", got)
	}
	if len(received(srv)) != 0 {
		t.Error("message accepted with a wrong password")
	}
	out := logs.String()
	if !strings.Contains(out, "notification dropped: email failed") {
		t.Errorf("failure not logged:\n%s", out)
	}
	if strings.Contains(out, mailPassword) {
		t.Errorf("password in logs:\n%s", out)
	}
}

func TestMail_TemporaryRejection_Retried(t *testing.T) {
	temp := &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
	srv := smtptest.Start(t, smtptest.Options{Username: mailUser, Password: mailPassword, Reject: []*smtp.SMTPError{temp, temp}})
	var logs syncBuffer
	n := mailNotifier(t, srv, "smtp", &logs)
	n.Notify(renew.Notification{Event: renew.NotifyExpiring, Name: "www"})
	closeNotifier(t, n)
	msgs := received(srv)
	if len(msgs) != 1 || msgs[0].Header.Get("X-Certctl-Event") != "expiring" {
		t.Fatalf("messages %d, want the expiring one after two refusals\nlogs:\n%s", len(msgs), logs.String())
	}
	if c := strings.Count(logs.String(), "email failed, will retry"); c != 2 {
		t.Errorf("%d retries logged, want 2:\n%s", c, logs.String())
	}
}

func TestMail_UntrustedServer_Refused(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{Username: mailUser, Password: mailPassword})
	var logs syncBuffer
	n := mailNotifier(t, srv, "smtp", &logs)
	n.Mail.RootCAs = x509.NewCertPool() // trusts nothing
	n.Notify(renew.Notification{Event: renew.NotifyRenewalFailed, Name: "www"})
	closeNotifier(t, n)
	if len(received(srv)) != 0 || srv.AuthFailures() != 0 || len(srv.PlaintextPasswords()) != 0 {
		t.Error("sent to a server whose certificate does not verify")
	}
	if out := logs.String(); !strings.Contains(out, "notification dropped: email failed") || strings.Contains(out, "will retry") {
		t.Errorf("want one failed attempt, not retried:\n%s", out)
	}
}

func TestMail_Check(t *testing.T) {
	ok := renew.Mail{URL: "smtp://u@mail.example", Password: "p", From: "certctl@example.com", To: []string{"ops@example.com"}}
	if err := ok.Check(); err != nil {
		t.Fatalf("valid settings: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(m *renew.Mail)
		want string
	}{
		{"password in URL", func(m *renew.Mail) { m.URL = "smtp://u:hunter2@mail.example" }, "holds a password"},
		{"user without password", func(m *renew.Mail) { m.Password = "" }, "has no password"},
		{"password without user", func(m *renew.Mail) { m.URL = "smtp://mail.example" }, "needs a user name"},
		{"scheme", func(m *renew.Mail) { m.URL = "http://mail.example" }, "unknown scheme"},
		{"no host", func(m *renew.Mail) { m.URL = "smtp://" }, "want smtp://"},
		{"port", func(m *renew.Mail) { m.URL = "smtp://u@mail.example:99999" }, "bad port"},
		{"path", func(m *renew.Mail) { m.URL = "smtp://u@mail.example/x" }, "no path"},
		{"plaintext with password", func(m *renew.Mail) { m.URL = "smtp://u@mail.example?starttls=off" }, "in the clear"},
		{"starttls on smtps", func(m *renew.Mail) { m.URL = "smtps://mail.example?starttls=off"; m.Password = "" }, "starttls"},
		{"unknown setting", func(m *renew.Mail) { m.URL = "smtp://u@mail.example?tls=no" }, "unknown setting"},
		{"sender", func(m *renew.Mail) { m.From = "not an address" }, "mail sender"},
		{"no recipient", func(m *renew.Mail) { m.To = nil }, "no recipient"},
		{"recipient", func(m *renew.Mail) { m.To = []string{"ops@example.com", "nope"} }, "mail recipient"},
	} {
		m := ok
		m.To = slices.Clone(ok.To)
		tc.edit(&m)
		err := m.Check()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Check = %v, want %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: password in %q", tc.name, err)
		}
	}
	plain := renew.Mail{URL: "smtp://127.0.0.1:25?starttls=off", From: "certctl@example.com", To: []string{"ops@example.com"}}
	if err := plain.Check(); err != nil {
		t.Errorf("local relay without TLS or user: %v", err)
	}
}

// Without Events, a Notifier sends no success events.
func TestNotifier_DefaultEvents_NoSuccesses(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{Username: mailUser, Password: mailPassword})
	var logs syncBuffer
	n := mailNotifier(t, srv, "smtp", &logs)
	n.Events = nil
	for _, e := range []renew.NotifyEvent{renew.NotifyIssued, renew.NotifyRenewed, renew.NotifyRenewalFailed} {
		n.Notify(renew.Notification{Event: e, Name: "www"})
	}
	closeNotifier(t, n)
	msgs := received(srv)
	if len(msgs) != 1 || msgs[0].Header.Get("X-Certctl-Event") != "renewal_failed" {
		t.Errorf("%d messages, want only renewal_failed", len(msgs))
	}
}
