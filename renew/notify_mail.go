package renew

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/textproto"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Mail sends notifications as plain-text emails through an SMTP server, for
// a [Notifier]. The subject names the event and the certificate
// ("[certctl] renewal_failed: www.example"), the headers X-Certctl-Event and
// X-Certctl-Name repeat them for mail filters, and the body lists the
// certificate's domains, expiry, the time, the error if any and the host
// that sent it.
//
// TLS is always used before a password is sent: smtp:// requires STARTTLS
// (port 587 by default) and smtps:// connects with TLS from the start (port
// 465 by default). Only smtp://HOST?starttls=off, which takes no user name,
// sends in the clear (a relay on the same machine). With a user name the
// client authenticates with the best mechanism the server offers over TLS
// (SCRAM, then PLAIN or LOGIN).
//
// Fields must be set before the first message; a Mail is safe for concurrent
// use once [Mail.Check] passed.
type Mail struct {
	// URL is the server: smtp://[USER@]HOST[:PORT] or smtps://[USER@]HOST[:PORT],
	// the user name percent-encoded ("alerts%40example.com@smtp.example").
	// It may not hold a password.
	URL string
	// Password authenticates USER. Required with a user name, refused
	// without one.
	Password string
	// From is the sender's address ("certctl <certctl@example.com>" or a
	// bare address).
	From string
	// To are the recipients' addresses; at least one.
	To []string
	// RootCAs verify the server's certificate. Nil means the system's roots.
	RootCAs *x509.CertPool
	// Hostname names the sending machine in the body. "" means os.Hostname.
	Hostname string
}

// mailDefaultPorts are the ports used when the URL names none.
const (
	mailPortSTARTTLS = 587
	mailPortTLS      = 465
)

// mailServer is the parsed URL of a [Mail].
type mailServer struct {
	host      string
	port      int
	implicit  bool // smtps://
	plaintext bool // smtp://...?starttls=off
	user      string
}

// Check reports what is wrong with m's settings, in one line that never
// holds the password: the URL (scheme, host, port, no password, a user name
// exactly when there is a password), From and To (valid addresses, at least
// one recipient).
func (m *Mail) Check() error {
	_, err := m.server()
	if err != nil {
		return err
	}
	if _, err := mail.ParseAddress(m.From); err != nil {
		return fmt.Errorf("mail sender %q: %w", m.From, err)
	}
	if len(m.To) == 0 {
		return errors.New("mail: no recipient")
	}
	for _, to := range m.To {
		if _, err := mail.ParseAddress(to); err != nil {
			return fmt.Errorf("mail recipient %q: %w", to, err)
		}
	}
	return nil
}

// server parses and checks m.URL.
func (m *Mail) server() (mailServer, error) {
	red := RedactURL(m.URL)
	u, err := url.Parse(m.URL)
	if err != nil || u.Host == "" || u.Hostname() == "" {
		return mailServer{}, fmt.Errorf("smtp server %s: want smtp://[USER@]HOST[:PORT] or smtps://[USER@]HOST[:PORT]", red)
	}
	var s mailServer
	switch u.Scheme {
	case "smtp":
		s.port = mailPortSTARTTLS
	case "smtps":
		s.port, s.implicit = mailPortTLS, true
	default:
		return mailServer{}, fmt.Errorf("smtp server %s: unknown scheme (want smtp:// or smtps://)", red)
	}
	if (u.Path != "" && u.Path != "/") || u.Fragment != "" {
		return mailServer{}, fmt.Errorf("smtp server %s: want no path", red)
	}
	q := u.Query()
	for k := range q {
		if k != "starttls" {
			return mailServer{}, fmt.Errorf("smtp server %s: unknown setting %q (want starttls=off or none)", red, k)
		}
	}
	switch v := q.Get("starttls"); {
	case !q.Has("starttls"):
	case v == "off" && !s.implicit:
		s.plaintext = true
	default:
		return mailServer{}, fmt.Errorf("smtp server %s: starttls=%q: want off, with smtp://", red, v)
	}
	s.host = u.Hostname()
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return mailServer{}, fmt.Errorf("smtp server %s: bad port %q", red, p)
		}
		s.port = n
	}
	if _, ok := u.User.Password(); ok {
		return mailServer{}, fmt.Errorf("smtp server %s: the URL holds a password; give it separately", red)
	}
	s.user = u.User.Username()
	switch {
	case s.user != "" && m.Password == "":
		return mailServer{}, fmt.Errorf("smtp server %s: user %q has no password", red, s.user)
	case s.user == "" && m.Password != "":
		return mailServer{}, fmt.Errorf("smtp server %s: a password needs a user name (smtp://USER@HOST)", red)
	case s.user != "" && s.plaintext:
		return mailServer{}, fmt.Errorf("smtp server %s: starttls=off would send the password in the clear", red)
	}
	return s, nil
}

// subject is the subject line of x's email.
func mailSubject(x Notification) string {
	return fmt.Sprintf("[certctl] %s: %s", x.Event, x.Name)
}

// mailBody is the plain-text body of x's email.
func mailBody(x Notification, host string) string {
	var b strings.Builder
	what := map[NotifyEvent]string{
		NotifyRenewalFailed: "Renewing this certificate failed. certctl will try again with back-off.",
		NotifyExpiring:      "This certificate entered the last tenth of its lifetime and renewing it keeps failing.",
		NotifyIssued:        "This certificate was issued and is in use.",
		NotifyRenewed:       "This certificate was renewed and the new version is in use.",
	}[x.Event]
	if what != "" {
		b.WriteString(what + "\n\n")
	}
	fmt.Fprintf(&b, "Event:       %s\n", x.Event)
	fmt.Fprintf(&b, "Certificate: %s\n", x.Name)
	fmt.Fprintf(&b, "Domains:     %s\n", strings.Join(x.Domains, ", "))
	if !x.NotAfter.IsZero() {
		fmt.Fprintf(&b, "Expires:     %s\n", x.NotAfter.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(&b, "Time:        %s\n", x.Time.UTC().Format(time.RFC3339))
	if host != "" {
		fmt.Fprintf(&b, "Host:        %s\n", host)
	}
	if x.Error != "" {
		fmt.Fprintf(&b, "Error:       %s\n", x.Error)
	}
	fmt.Fprintf(&b, "\nDetails: certctl show %s\n", x.Name)
	return b.String()
}

// message builds x's email.
func (m *Mail) message(x Notification) (*gomail.Msg, error) {
	msg := gomail.NewMsg()
	if err := msg.From(m.From); err != nil {
		return nil, fmt.Errorf("mail sender: %w", err)
	}
	if err := msg.To(m.To...); err != nil {
		return nil, fmt.Errorf("mail recipients: %w", err)
	}
	msg.Subject(mailSubject(x))
	msg.SetGenHeader("X-Certctl-Event", string(x.Event))
	msg.SetGenHeader("X-Certctl-Name", x.Name)
	msg.SetUserAgent("certctl")
	msg.SetDateWithValue(x.Time)
	msg.SetMessageID()
	host := m.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	msg.SetBodyString(gomail.TypeTextPlain, mailBody(x, host))
	return msg, nil
}

// send sends x's email once. It reports whether a failure may be retried:
// a network error or a temporary (4xx) answer may; a permanent (5xx)
// answer, a rejected TLS certificate or bad settings may not. The error
// never holds the password.
func (m *Mail) send(ctx context.Context, x Notification) (time.Duration, bool, error) {
	srv, err := m.server()
	if err != nil {
		return 0, false, err
	}
	msg, err := m.message(x)
	if err != nil {
		return 0, false, err
	}
	tlsConf := &tls.Config{ServerName: srv.host, RootCAs: m.RootCAs, MinVersion: tls.VersionTLS12}
	opts := []gomail.Option{
		gomail.WithPort(srv.port),
		gomail.WithTimeout(notifyAttemptTimeout),
		gomail.WithTLSConfig(tlsConf),
		gomail.WithHELO(heloName()),
	}
	switch {
	case srv.implicit:
		opts = append(opts, gomail.WithSSL())
	case srv.plaintext:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if srv.user != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(srv.user), gomail.WithPassword(m.Password))
	}
	c, err := gomail.NewClient(srv.host, opts...)
	if err != nil {
		return 0, false, m.scrub(fmt.Errorf("smtp server %s: %w", RedactURL(m.URL), err))
	}
	ctx, cancel := context.WithTimeout(ctx, notifyAttemptTimeout)
	defer cancel()
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return 0, mailRetryable(err), m.scrub(fmt.Errorf("smtp server %s: %w", RedactURL(m.URL), err))
	}
	return 0, false, nil
}

// heloName is the name given in EHLO: the host name when it looks like
// one, else "localhost".
func heloName() string {
	h, err := os.Hostname()
	if err != nil || h == "" || strings.ContainsAny(h, " \t\r\n") {
		return "localhost"
	}
	return h
}

// mailRetryable reports whether a failed send may succeed later.
func mailRetryable(err error) bool {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code >= 400 && te.Code < 500
	}
	var se *gomail.SendError
	if errors.As(err, &se) && se.ErrorCode() >= 500 {
		return false
	}
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	if errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &hn) {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	return !strings.Contains(err.Error(), "does not support")
}

// scrub removes the password from err's message, in case a server or a
// library quoted it; the chain is kept.
func (m *Mail) scrub(err error) error {
	if m.Password == "" {
		return err
	}
	return scrubbedError{err: err, r: strings.NewReplacer(m.Password, "…")}
}
