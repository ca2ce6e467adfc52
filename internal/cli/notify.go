package cli

import (
	"crypto/x509"
	"net/url"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/certctl/certctl/acme"
	"github.com/certctl/certctl/renew"
)

// notifyFlags are the email notification options (beside --webhook) of the
// commands that renew: daemon and renew.
type notifyFlags struct {
	smtpURL      string
	passwordFile string
	from         string
	to           []string
	caCert       string
	success      bool
}

// notifySettings are notifyFlags resolved, for serviceOptions.
type notifySettings struct {
	// mail, if set, sends notifications by email.
	mail *renew.Mail
	// events are the events sent (webhook and email); nil means the
	// Notifier's default.
	events []renew.NotifyEvent
}

// allNotifyEvents are the events sent with --notify-success.
var allNotifyEvents = []renew.NotifyEvent{renew.NotifyRenewalFailed, renew.NotifyExpiring, renew.NotifyIssued, renew.NotifyRenewed}

// add adds the flags to f, with defaults from the environment.
func (n *notifyFlags) add(f *pflag.FlagSet, g *globals) {
	env := g.deps.Getenv
	if env == nil {
		env = os.Getenv
	}
	f.StringVar(&n.smtpURL, "smtp-url", envOr(env, "CERTCTL_SMTP_URL", ""),
		"SMTP server to email notifications through: smtp://[USER@]HOST[:587] (STARTTLS) or smtps://[USER@]HOST[:465] (TLS); no password in it (env CERTCTL_SMTP_URL)")
	f.StringVar(&n.passwordFile, "smtp-password-file", "", "file holding the SMTP password of USER (or the password in CERTCTL_SMTP_PASSWORD)")
	f.StringVar(&n.from, "mail-from", envOr(env, "CERTCTL_MAIL_FROM", ""), "sender of notification emails (env CERTCTL_MAIL_FROM)")
	f.StringArrayVar(&n.to, "mail-to", splitList(envOr(env, "CERTCTL_MAIL_TO", "")),
		"recipient of notification emails, repeatable (env CERTCTL_MAIL_TO, comma-separated)")
	f.StringVar(&n.caCert, "smtp-ca-cert", "", "PEM file of CA certificates trusted for the SMTP server's TLS (default: the system's)")
	f.BoolVar(&n.success, "notify-success", false, "also notify (webhook and email) when a certificate is issued or renewed")
}

// resolve checks the flags and reads the password and CA file. Without
// --smtp-url no email is sent, and the other email flags are refused.
func (n *notifyFlags) resolve(g *globals) (notifySettings, error) {
	var s notifySettings
	if n.success {
		s.events = allNotifyEvents
	}
	if n.smtpURL == "" {
		if n.passwordFile != "" || n.caCert != "" || n.from != "" || len(n.to) > 0 {
			return s, usagef("--smtp-password-file, --smtp-ca-cert, --mail-from and --mail-to need --smtp-url")
		}
		return s, nil
	}
	if u, err := url.Parse(n.smtpURL); err == nil {
		if _, ok := u.User.Password(); ok {
			return s, usagef("--smtp-url %s: the URL holds a password, which the command line shows to every user; "+
				"give it with --smtp-password-file FILE or CERTCTL_SMTP_PASSWORD", renew.RedactURL(n.smtpURL))
		}
	}
	pass := g.deps.Getenv("CERTCTL_SMTP_PASSWORD")
	if n.passwordFile != "" {
		if pass != "" {
			return s, usagef("the SMTP password is both in CERTCTL_SMTP_PASSWORD and in --smtp-password-file; give one")
		}
		b, err := os.ReadFile(n.passwordFile)
		if err != nil {
			return s, usagef("--smtp-password-file: %v", err)
		}
		if pass = strings.TrimRight(string(b), "\r\n"); pass == "" {
			return s, usagef("--smtp-password-file %s: the file is empty", n.passwordFile)
		}
	}
	m := &renew.Mail{URL: n.smtpURL, Password: pass, From: n.from, To: n.to}
	if m.From == "" {
		return s, usagef("--smtp-url needs --mail-from")
	}
	if len(m.To) == 0 {
		return s, usagef("--smtp-url needs --mail-to")
	}
	if n.caCert != "" {
		b, err := acme.LoadCACert(n.caCert)
		if err != nil {
			return s, usagef("--smtp-ca-cert: %v", err)
		}
		m.RootCAs = x509.NewCertPool()
		if !m.RootCAs.AppendCertsFromPEM(b) {
			return s, usagef("--smtp-ca-cert %s: no PEM certificate in it", n.caCert)
		}
	}
	if err := m.Check(); err != nil {
		return s, usagef("%v", err)
	}
	s.mail = m
	return s, nil
}
