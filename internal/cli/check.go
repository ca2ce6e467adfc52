package cli

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/certctl/certctl/internal/certpem"
	"github.com/certctl/certctl/store"
)

// The states of `certctl check`, which are its exit codes (the Nagios
// plugin convention; README.md, "Checking what is served").
const (
	stateOK       = 0 // everything as it should be
	stateWarning  = 1 // expires within --warning days, the server has not reloaded, a legacy protocol or suite is accepted
	stateCritical = 2 // expires within --critical days or expired, the chain does not verify, the name is not covered, no TLS
	stateUnknown  = 3 // the check could not be run (bad arguments)
)

var stateNames = [...]string{"OK", "WARNING", "CRITICAL", "UNKNOWN"}

// checkState is the outcome of a check that is not OK, already reported on
// stdout: ExitCode returns its state, and its message is a one-line
// summary.
type checkState struct {
	state int
	msg   string
	err   error
}

func (e *checkState) Error() string { return e.msg }
func (e *checkState) Unwrap() error { return e.err }

// unknownState makes err, found before anything was checked (bad flags),
// exit with the UNKNOWN state.
func unknownState(err error) error {
	if err == nil {
		return nil
	}
	return &checkState{state: stateUnknown, msg: err.Error(), err: err}
}

type checkOptions struct {
	g                 *globals
	names             []string
	roots             []string
	warning, critical int
	timeout           time.Duration
	noStore           bool
}

// CheckJSON is the stable JSON of `certctl check` (README.md): the worst
// state over the names checked and one entry per name. Fields are only ever
// added.
type CheckJSON struct {
	Status   string        `json:"status"` // ok, warning, critical or unknown
	ExitCode int           `json:"exit_code"`
	Targets  []CheckTarget `json:"targets"`
}

// CheckTarget is what one server name was served.
type CheckTarget struct {
	Host       string `json:"host"`
	Port       string `json:"port"`
	ServerName string `json:"server_name"` // the SNI sent; "" for none
	Address    string `json:"address"`     // the address connected to
	Status     string `json:"status"`
	// Problems are the findings that are not OK, worst first.
	Problems []CheckProblem `json:"problems"`
	// Error is why no certificate was received ("" when one was).
	Error     string     `json:"error,omitempty"`
	Serial    string     `json:"serial,omitempty"`
	Names     []string   `json:"names"`
	KeyType   string     `json:"key_type,omitempty"`
	NotBefore *time.Time `json:"not_before,omitempty"`
	NotAfter  *time.Time `json:"not_after,omitempty"`
	// DaysLeft is whole days until NotAfter (negative once expired).
	DaysLeft *int `json:"days_left,omitempty"`
	// Chain is what the server sent, leaf first.
	Chain []CheckCert `json:"chain"`
	// Verified reports that the chain verifies to a trusted root for
	// ServerName (or the host's IP address); VerifyError says why not;
	// TrustedRoots is "system" or the --root files.
	Verified     bool   `json:"verified"`
	VerifyError  string `json:"verify_error,omitempty"`
	TrustedRoots string `json:"trusted_roots"`
	// Versions are the protocol versions accepted ("TLS 1.2"), oldest
	// first; CipherSuites their accepted suites by version (for TLS 1.3
	// the one the server chose).
	Versions     []string            `json:"versions"`
	CipherSuites map[string][]string `json:"cipher_suites"`
	// ClientAuth is none, requested (optional) or required; ClientCAs the
	// issuers the server names for client certificates.
	ClientAuth string          `json:"client_auth,omitempty"`
	ClientCAs  []string        `json:"client_cas"`
	Store      *CheckStoreJSON `json:"store,omitempty"`
}

// CheckCert is one certificate of a served chain.
type CheckCert struct {
	Subject  string    `json:"subject"`
	Issuer   string    `json:"issuer"`
	Serial   string    `json:"serial"`
	NotAfter time.Time `json:"not_after"`
	SHA256   string    `json:"sha256"`
}

// CheckProblem is one finding that is not OK.
type CheckProblem struct {
	Status  string `json:"status"` // warning or critical
	Message string `json:"message"`
}

// NewCmdCheck returns `certctl check`.
func NewCmdCheck(g *globals) *cobra.Command {
	o := &checkOptions{g: g}
	cmd := &cobra.Command{
		Use:   "check HOST[:PORT]",
		Short: "Show what a TLS server actually serves and compare it with the store (for monitoring)",
		Long: "check connects to HOST (port 443 by default) as a client and shows the certificate and chain it serves,\n" +
			"its names, key, serial and days left, the TLS versions and cipher suites it accepts and whether it asks\n" +
			"for a client certificate, and compares the certificate with the store's active version.\n\n" +
			"Exit codes follow the Nagios plugin convention: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
		Example: "  certctl check example.com\n  certctl check 192.0.2.10:8443 --name example.com --name www.example.com\n" +
			"  certctl check localhost:8443 --name app.internal --root /etc/ssl/private-ca.pem -o json",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return unknownState(usagef("check takes one HOST[:PORT], got %d arguments", len(args)))
			}
			return nil
		},
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error { return unknownState(g.setup()) },
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCheck(cmd, o, args[0])
		},
	}
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return unknownState(&usageError{err.Error()}) })
	f := cmd.Flags()
	f.StringArrayVar(&o.names, "name", nil, "server name to send (SNI) and verify, repeatable: each is checked (default HOST unless it is an IP address)")
	f.StringArrayVar(&o.roots, "root", nil, "PEM file of root certificates to verify the chain against, repeatable (default the system's roots)")
	f.IntVar(&o.warning, "warning", 21, "WARNING when the certificate expires within this many days")
	f.IntVar(&o.critical, "critical", 7, "CRITICAL when the certificate expires within this many days")
	f.DurationVar(&o.timeout, "timeout", 10*time.Second, "timeout of each connection and handshake")
	f.BoolVar(&o.noStore, "no-store", false, "do not compare with the store")
	return cmd
}

// splitHostPort splits HOST[:PORT], [IPv6]:PORT or a bare IPv6 address.
func splitHostPort(arg string) (host, port string, err error) {
	if h, p, err := net.SplitHostPort(arg); err == nil {
		host, port = h, p
	} else {
		host, port = strings.TrimSuffix(strings.TrimPrefix(arg, "["), "]"), "443"
	}
	if host == "" {
		return "", "", usagef("check %q: no host", arg)
	}
	if n, err := net.LookupPort("tcp", port); err != nil || n == 0 {
		return "", "", usagef("check %q: bad port %q", arg, port)
	}
	return host, port, nil
}

func runCheck(cmd *cobra.Command, o *checkOptions, arg string) error {
	host, port, err := splitHostPort(arg)
	if err != nil {
		return unknownState(err)
	}
	if o.critical < 0 || o.warning < o.critical {
		return unknownState(usagef("--warning %d --critical %d: want 0 <= critical <= warning", o.warning, o.critical))
	}
	if o.timeout <= 0 {
		return unknownState(usagef("--timeout %s: want more than 0", o.timeout))
	}
	roots, rootsText, err := loadRoots(o.roots)
	if err != nil {
		return unknownState(err)
	}
	names := o.names
	if len(names) == 0 {
		names = []string{host}
		if _, err := netip.ParseAddr(host); err == nil {
			names = []string{""}
		}
	}
	ctx := cmd.Context()
	var certs []*store.Certificate
	storeLoc, storeErr := "", error(nil)
	if !o.noStore {
		certs, storeLoc, storeErr = o.g.readStoreForCheck(ctx)
	}
	now := o.g.deps.Now()
	out := CheckJSON{Targets: []CheckTarget{}}
	worst := stateOK
	for _, name := range names {
		t, st := o.checkOne(ctx, host, port, name, roots, rootsText, now)
		if !o.noStore && t.Serial != "" {
			var s CheckStoreJSON
			if storeErr != nil {
				s = CheckStoreJSON{Match: matchNoStore, Detail: oneLine(storeErr)}
			} else {
				s = compareWithStore(certs, t.leaf, name)
			}
			s.Store = storeLoc
			if s.Match == matchStoreNewer || s.Match == matchServerNewer {
				t.add(stateWarning, s.Detail)
				st = max(st, stateWarning)
			}
			t.Store = &s
		}
		t.Status = strings.ToLower(stateNames[st])
		worst = max(worst, st)
		out.Targets = append(out.Targets, t.CheckTarget)
	}
	out.Status, out.ExitCode = strings.ToLower(stateNames[worst]), worst
	w := cmd.OutOrStdout()
	if o.g.json() {
		if err := writeJSON(w, out); err != nil {
			return err
		}
	} else if err := printCheck(w, out, now); err != nil {
		return err
	}
	if worst == stateOK {
		return nil
	}
	return &checkState{state: worst, msg: fmt.Sprintf("check: %s (reported above)", stateNames[worst])}
}

// checkTarget is a CheckTarget being built, with its parsed leaf.
type checkTarget struct {
	CheckTarget
	leaf *x509.Certificate
}

// add records a problem of state st (warning or critical).
func (t *checkTarget) add(st int, msg string) {
	p := CheckProblem{Status: strings.ToLower(stateNames[st]), Message: msg}
	if st == stateCritical {
		t.Problems = append([]CheckProblem{p}, t.Problems...)
		return
	}
	t.Problems = append(t.Problems, p)
}

// checkOne checks what host:port serves for the SNI name ("" for none).
func (o *checkOptions) checkOne(ctx context.Context, host, port, name string, roots *x509.CertPool, rootsText string, now time.Time) (*checkTarget, int) {
	t := &checkTarget{CheckTarget: CheckTarget{Host: host, Port: port, ServerName: name, Problems: []CheckProblem{},
		Names: []string{}, Chain: []CheckCert{}, TrustedRoots: rootsText, Versions: []string{},
		CipherSuites: map[string][]string{}, ClientCAs: []string{}}}
	r, err := probe(ctx, net.JoinHostPort(host, port), name, o.timeout)
	if err != nil {
		t.Error = oneLine(err)
		t.add(stateCritical, "no TLS certificate from "+net.JoinHostPort(host, port)+": "+t.Error)
		return t, stateCritical
	}
	st := stateOK
	t.Address = r.addr
	leaf := r.chain[0]
	t.leaf = leaf
	t.Serial = certpem.SerialHex(leaf)
	t.Names = append(append(t.Names, leaf.DNSNames...), ipStrings(leaf.IPAddresses)...)
	t.KeyType = keyType(leaf)
	t.NotBefore, t.NotAfter = timePtr(leaf.NotBefore), timePtr(leaf.NotAfter)
	left := leaf.NotAfter.Sub(now)
	days := int(left.Hours() / 24)
	if left < 0 {
		days = -int((-left).Hours()/24) - 1
	}
	t.DaysLeft = &days
	for _, c := range r.chain {
		sum := sha256.Sum256(c.Raw)
		t.Chain = append(t.Chain, CheckCert{Subject: c.Subject.String(), Issuer: c.Issuer.String(),
			Serial: certpem.SerialHex(c), NotAfter: c.NotAfter.UTC(), SHA256: hex.EncodeToString(sum[:])})
	}

	verifyName := name
	if verifyName == "" {
		verifyName = host
	}
	inter := x509.NewCertPool()
	for _, c := range r.chain[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: verifyName, CurrentTime: now}); err != nil {
		t.VerifyError = err.Error()
		t.add(stateCritical, "the chain does not verify: "+t.VerifyError)
		st = stateCritical
	} else {
		t.Verified = true
	}
	switch {
	case left <= 0:
		t.add(stateCritical, fmt.Sprintf("expired %s ago (%s)", humanDuration(-left), fmtTime(leaf.NotAfter)))
		st = stateCritical
	case left < time.Duration(o.critical)*24*time.Hour:
		t.add(stateCritical, fmt.Sprintf("expires in %s (%s), within --critical %d days", humanDuration(left), fmtTime(leaf.NotAfter), o.critical))
		st = stateCritical
	case left < time.Duration(o.warning)*24*time.Hour:
		t.add(stateWarning, fmt.Sprintf("expires in %s (%s), within --warning %d days", humanDuration(left), fmtTime(leaf.NotAfter), o.warning))
		st = max(st, stateWarning)
	}

	for _, v := range r.versions {
		vn := tls.VersionName(v)
		t.Versions = append(t.Versions, vn)
		suites := []string{}
		for _, s := range r.suites[v] {
			suites = append(suites, tls.CipherSuiteName(s))
			if insecureSuite(s) {
				t.add(stateWarning, fmt.Sprintf("accepts the insecure suite %s with %s", tls.CipherSuiteName(s), vn))
				st = max(st, stateWarning)
			}
		}
		t.CipherSuites[vn] = suites
		if v < tls.VersionTLS12 {
			t.add(stateWarning, fmt.Sprintf("accepts %s, deprecated by RFC 8996", vn))
			st = max(st, stateWarning)
		}
	}
	t.ClientAuth = r.clientAuth
	t.ClientCAs = append(t.ClientCAs, r.clientCAs...)
	return t, st
}

// loadRoots reads the --root files; no files means the system's roots.
func loadRoots(files []string) (*x509.CertPool, string, error) {
	if len(files) == 0 {
		pool, err := x509.SystemCertPool()
		if err != nil {
			return nil, "", usagef("the system's root certificates: %v (give --root FILE)", err)
		}
		return pool, "system", nil
	}
	pool := x509.NewCertPool()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, "", usagef("--root %s: %v", f, errors.Unwrap(err))
		}
		if !pool.AppendCertsFromPEM(b) {
			return nil, "", usagef("--root %s: no PEM certificate in it", f)
		}
	}
	return pool, strings.Join(files, ", "), nil
}

// keyType names a certificate's public key: "ECDSA P-256", "RSA 2048",
// "Ed25519".
func keyType(c *x509.Certificate) string {
	switch k := c.PublicKey.(type) {
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", k.N.BitLen())
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return c.PublicKeyAlgorithm.String()
}

func ipStrings(ips []net.IP) []string {
	out := make([]string, 0, len(ips))
	for _, ip := range ips {
		out = append(out, ip.String())
	}
	return out
}

// printCheck writes the check as text: the first line is the summary a
// monitoring system shows (Nagios reads the first line), then each name's
// details.
func printCheck(w io.Writer, out CheckJSON, now time.Time) error {
	var b strings.Builder
	worst := strings.ToUpper(out.Status)
	first := out.Targets[0]
	for _, t := range out.Targets {
		if t.Status == out.Status {
			first = t
			break
		}
	}
	summary := targetLabel(first) + ": "
	switch {
	case len(first.Problems) > 0:
		summary += first.Problems[0].Message
	case first.NotAfter != nil:
		summary += fmt.Sprintf("serial %s, expires in %s (%s)", shortSerial(first.Serial), humanDuration(first.NotAfter.Sub(now)), fmtTime(*first.NotAfter))
	}
	if len(out.Targets) > 1 {
		summary += fmt.Sprintf(" (%d names checked)", len(out.Targets))
	}
	fmt.Fprintf(&b, "%s - %s\n", worst, summary)
	for _, t := range out.Targets {
		fmt.Fprintf(&b, "\n%s  %s", strings.ToUpper(t.Status), targetLabel(t))
		if t.Address != "" {
			fmt.Fprintf(&b, " (connected to %s)", t.Address)
		}
		b.WriteString("\n")
		row := func(k, v string) { fmt.Fprintf(&b, "  %-13s %s\n", k, v) }
		if t.Error != "" {
			row("error", t.Error)
		}
		if t.Serial != "" {
			row("certificate", fmt.Sprintf("serial %s, %s", t.Serial, t.KeyType))
			row("names", strings.Join(t.Names, ", "))
			row("valid", fmt.Sprintf("%s to %s (%d days left)", fmtTime(*t.NotBefore), fmtTime(*t.NotAfter), *t.DaysLeft))
			for i, c := range t.Chain {
				k := ""
				if i == 0 {
					k = "chain"
				}
				subject := c.Subject
				if subject == "" && i == 0 {
					subject = "(no subject; names above)"
				}
				row(k, fmt.Sprintf("%d: %s (issuer %s, expires %s)", i, subject, c.Issuer, fmtTime(c.NotAfter)))
			}
			if t.Verified {
				row("verified", "yes, against "+rootsLabel(t.TrustedRoots))
			} else {
				row("verified", "NO: "+t.VerifyError)
			}
			row("protocols", orNone(strings.Join(t.Versions, ", ")))
			for _, v := range t.Versions {
				s := strings.Join(t.CipherSuites[v], ", ")
				if v == "TLS 1.3" {
					s += " (chosen by the server)"
				}
				row(v, s)
			}
			ca := t.ClientAuth
			if len(t.ClientCAs) > 0 {
				ca += "; acceptable issuers: " + strings.Join(t.ClientCAs, "; ")
			}
			row("client certs", ca)
		}
		if t.Store != nil {
			st := ""
			if t.Store.Match == matchStoreNewer || t.Store.Match == matchServerNewer {
				st = "WARNING "
			}
			row("store", st+t.Store.Match+": "+t.Store.Detail)
		}
		for _, p := range t.Problems {
			if t.Store != nil && p.Message == t.Store.Detail {
				continue // said on the store line
			}
			row(strings.ToUpper(p.Status), p.Message)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func targetLabel(t CheckTarget) string {
	l := net.JoinHostPort(t.Host, t.Port)
	if t.ServerName != "" && t.ServerName != t.Host {
		l += " name " + t.ServerName
	}
	return l
}

func rootsLabel(s string) string {
	if s == "system" {
		return "the system's roots"
	}
	return s
}

func shortSerial(s string) string {
	if len(s) > 16 {
		return s[:16] + "…"
	}
	return s
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
