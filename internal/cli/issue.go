package cli

import (
	"encoding/pem"
	"fmt"
	"io"
	"net/mail"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/certctl/certctl/acme"
	"github.com/certctl/certctl/internal/certpem"
	"github.com/certctl/certctl/renew"
	"github.com/certctl/certctl/store"
)

type issueOptions struct {
	g              *globals
	domains        []string
	name           string
	challenge      string
	httpAddr       string
	tlsAddr        string
	webroot        string
	dnsProvider    string
	dnsResolvers   []string
	keyType        string
	profile        string
	preferredChain string
	eabKID         string
	eabHMAC        string
	eab            eabFlags
	agreeTOS       bool
	force          bool
	csrFile        string
	reuseKey       bool
	keyTypeSet     bool // --key-type given
	hooks          hookFlags
	files          bindingFlags
}

// NewCmdIssue returns `certctl issue`.
func NewCmdIssue(g *globals) *cobra.Command {
	o := &issueOptions{g: g}
	cmd := &cobra.Command{
		Use:   "issue (-d NAME [-d NAME...] | --csr FILE)",
		Short: "Obtain a certificate and keep it renewed",
		Long: "Obtain a certificate for the given names and store it with every setting needed to renew it.\n" +
			"Names are DNS names or IP addresses (http-01 or tls-alpn-01 only). With --csr the names and the\n" +
			"key are the CSR's: certctl stores no private key and renews with the same CSR.\n" +
			"Idempotent: a valid certificate for the same names that is not due is kept without contacting\n" +
			"the CA, unless --force.",
		Example: "  certctl issue -d example.com -d www.example.com --email me@example.com --agree-tos\n" +
			"  certctl issue -d '*.example.com' -d example.com --challenge dns-01 --dns cloudflare\n" +
			"  certctl issue -d example.com --webroot /var/www/html --directory letsencrypt-staging\n" +
			"  certctl issue -d 192.0.2.10 -d 2001:db8::1\n" +
			"  certctl issue --csr example.com.csr\n" +
			"  certctl issue -d example.com --reuse-key",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runIssue(cmd, o) },
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.domains, "domain", "d", nil, "domain name or IP address to include (repeat for several; the first is the primary)")
	f.StringVar(&o.name, "name", "", "name of the certificate in the store (default: the first domain)")
	f.StringVar(&o.challenge, "challenge", "", "challenge type: http-01, dns-01 or tls-alpn-01 (default http-01, or dns-01 with --dns)")
	f.StringVar(&o.httpAddr, "http-addr", ":80", "address of the built-in HTTP-01 responder")
	f.StringVar(&o.tlsAddr, "tls-addr", ":443", "address of the built-in TLS-ALPN-01 responder")
	f.StringVar(&o.webroot, "webroot", "", "serve HTTP-01 tokens from this directory of an existing web server")
	f.StringVar(&o.dnsProvider, "dns", "", "lego DNS provider for dns-01 (credentials in its environment variables)")
	f.StringArrayVar(&o.dnsResolvers, "dns-resolver", nil, "resolver (host:port) used to check DNS-01 propagation (repeatable)")
	f.StringVar(&o.keyType, "key-type", "ec256", "key type: ec256, ec384, rsa2048 or rsa4096")
	f.StringVar(&o.profile, "profile", "", "ACME profile to request (e.g. shortlived)")
	f.StringVar(&o.preferredChain, "preferred-chain", "", "issuer common name of the preferred chain")
	o.eab.add(f)
	f.BoolVar(&o.agreeTOS, "agree-tos", false, "agree to the CA's terms of service (needed to register an account)")
	f.BoolVar(&o.force, "force", false, "obtain a new certificate even if a valid one exists")
	f.StringVar(&o.csrFile, "csr", "", "order with this certificate signing request (PEM or DER): its names are certified, its key stays with you")
	f.BoolVar(&o.reuseKey, "reuse-key", false, "keep the private key across renewals (default: a new key each time)")
	o.files.add(f)
	o.hooks.add(f, "this certificate")
	g.addTimingsFlag(f)
	return cmd
}

// template checks every input and builds the record to issue, before the
// store is touched.
func (o *issueOptions) template() (*store.Certificate, error) {
	var csrPEM []byte
	var csrKeyType acme.KeyType
	domains, err := acme.NormalizeDomains(o.domains)
	if o.csrFile != "" {
		csrPEM, csrKeyType, domains, err = o.readCSR()
	}
	if err != nil {
		return nil, err
	}
	name := o.name
	if name == "" {
		name = acme.DefaultName(domains)
	}
	if err := checkName(name); err != nil {
		return nil, err
	}
	if err := checkEmail(o.g.email); err != nil {
		return nil, err
	}
	kt, err := acme.ParseKeyType(o.keyType)
	if err != nil {
		return nil, err
	}
	if csrPEM != nil {
		kt = csrKeyType
	}
	dir, err := o.g.directoryURL()
	if err != nil {
		return nil, err
	}
	typ := o.challenge
	if typ == "" {
		typ = acme.HTTP01
		if o.dnsProvider != "" {
			typ = acme.DNS01
		}
	}
	ch := acme.Challenge{Type: typ, DNSProvider: o.dnsProvider}
	if err := acme.CheckChallenge(ch, domains); err != nil {
		return nil, err
	}
	if o.webroot != "" && typ != acme.HTTP01 {
		return nil, usagef("--webroot works only with the http-01 challenge")
	}
	if o.eabKID, o.eabHMAC, err = o.eab.resolve(o.g); err != nil {
		return nil, err
	}
	hooks, err := o.hooks.hooks()
	if err != nil {
		return nil, err
	}
	fb, err := o.files.binding()
	if err != nil {
		return nil, err
	}
	if csrPEM != nil && fb != nil && fb.PFX != "" {
		return nil, usagef("--pfx needs the private key, which --csr leaves with you (--export writes the certificate files)")
	}
	var fbs []store.FileBinding
	if fb != nil {
		fbs = []store.FileBinding{*fb}
	}
	return &store.Certificate{
		Hooks:    hooks,
		Bindings: fbs,
		Name:     name,
		Domains:  domains,
		KeyType:  string(kt),
		Challenge: store.Challenge{
			Type:         typ,
			HTTPAddr:     o.httpAddr,
			TLSAddr:      o.tlsAddr,
			Webroot:      o.webroot,
			DNSProvider:  o.dnsProvider,
			DNSResolvers: o.dnsResolvers,
		},
		Directory:      dir,
		Email:          o.g.email,
		Profile:        o.profile,
		PreferredChain: o.preferredChain,
		ReuseKey:       o.reuseKey,
		CSR:            csrPEM,
	}, nil
}

// maxCSRSize bounds the --csr file read.
const maxCSRSize = 64 << 10

// readCSR reads --csr and returns it in PEM, its key's type ("" for one
// certctl does not generate itself) and its names, which -d, if given,
// must list too.
func (o *issueOptions) readCSR() (csrPEM []byte, kt acme.KeyType, names []string, err error) {
	switch {
	case o.reuseKey:
		return nil, "", nil, usagef("--reuse-key cannot be combined with --csr (the key is yours)")
	case o.keyTypeSet:
		return nil, "", nil, usagef("--key-type cannot be combined with --csr (the CSR's key is certified)")
	}
	data, err := readLimited(o.csrFile, maxCSRSize)
	if err != nil {
		return nil, "", nil, usagef("--csr: %v", err)
	}
	csr, names, err := acme.ParseCSR(data)
	if err != nil {
		return nil, "", nil, fmt.Errorf("--csr %s: %w", o.csrFile, err)
	}
	if len(o.domains) > 0 {
		given, err := acme.NormalizeDomains(o.domains)
		if err != nil {
			return nil, "", nil, err
		}
		if !slices.Equal(sortedNames(given), sortedNames(names)) {
			return nil, "", nil, usagef("-d %s does not match the names of --csr %s (%s): leave -d out or give exactly the CSR's names",
				strings.Join(given, ", "), o.csrFile, strings.Join(names, ", "))
		}
	}
	kt, _ = acme.KeyTypeOf(csr.PublicKey)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr.Raw}), kt, names, nil
}

func sortedNames(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

func runIssue(cmd *cobra.Command, o *issueOptions) error {
	o.keyTypeSet = cmd.Flags().Changed("key-type")
	tmpl, err := o.template()
	if err != nil {
		return err
	}
	db, err := o.g.openStore(cmd.Context())
	if err != nil {
		return err
	}
	defer closeStore(db, o.g.logger)
	svc, err := o.g.service(db, serviceOptions{agreeTOS: o.agreeTOS, eabKID: o.eabKID, eabHMAC: o.eabHMAC})
	if err != nil {
		return err
	}
	res := svc.Issue(cmd.Context(), tmpl, o.force)
	if err := printResults(cmd.OutOrStdout(), o.g, []renew.Result{res}, false); err != nil {
		return err
	}
	waitForOthers(cmd.Context())
	return resultsError([]renew.Result{res}, "issue")
}

// checkName refuses certificate names that cannot be file names, as a
// usage error: the one rule of certpem.CheckName, which the store applies too.
func checkName(name string) error {
	if err := certpem.CheckName(name); err != nil {
		return usagef("certificate name %v", err)
	}
	return nil
}

// checkEmail accepts "" (no contact) or a bare address.
func checkEmail(e string) error {
	if e == "" {
		return nil
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || a.Name != "" || !strings.Contains(e[strings.LastIndex(e, "@")+1:], ".") {
		return usagef("email %q: not a valid address", e)
	}
	return nil
}

// resultLine formats one result for the table output.
func resultLine(r renew.Result) string {
	switch r.Action {
	case renew.ActionFailed:
		return fmt.Sprintf("%-8s %s: %s", "FAILED", r.Name, failureText(r.Name, r.Err))
	case renew.ActionNotDue, renew.ActionKept:
		return fmt.Sprintf("%-8s %s: serial %s, expires %s, next renewal %s (%s)", strings.ToUpper(string(r.Action)), r.Name,
			r.Serial, fmtTime(r.NotAfter), fmtTime(r.Next.At), r.Next.Reason)
	default:
		s := fmt.Sprintf("%-8s %s: serial %s, expires %s", strings.ToUpper(string(r.Action)), r.Name, r.Serial, fmtTime(r.NotAfter))
		if r.PrevSerial != "" {
			s += " (replaces " + r.PrevSerial + ")"
		}
		if r.DeployErr != nil {
			s += "; DEPLOY FAILED: " + failureText(r.Name, r.DeployErr)
		}
		return s
	}
}

// readLimited reads the file at path, refusing one larger than max bytes.
func readLimited(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s: larger than %d KiB", path, max>>10)
	}
	return data, nil
}
