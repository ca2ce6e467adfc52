package cli

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"time"

	"github.com/certctl/certctl/acme"
	"github.com/certctl/certctl/internal/command"
	"github.com/certctl/certctl/renew"
	"github.com/certctl/certctl/store"
)

// The kinds of failure, the stable "error_kind" of JSON results (README.md,
// "JSON output"). Values are only ever added.
const (
	kindPortBusy       = "port_busy"             // the challenge port is held by another program
	kindPortPrivileged = "port_privileged"       // no permission to bind a port below 1024
	kindConnection     = "validation_connection" // the CA could not connect to the name, or timed out
	kindAddress        = "validation_address"    // the name resolves to addresses that are not this host's
	kindDNS            = "validation_dns"        // the name does not resolve, or the CA could not resolve it
	kindPropagation    = "dns_propagation"       // the dns-01 TXT record was not seen at the resolvers in time
	kindToken          = "validation_token"      // the CA got no or a wrong challenge answer
	kindCAA            = "validation_caa"        // a CAA record forbids this CA
	kindValidation     = "validation"            // the CA refused validation otherwise
	kindRateLimited    = "rate_limited"          // the CA's rate limit
	kindNoAccount      = "no_account"            // no account, and the terms were not agreed
	kindTerms          = "terms_not_agreed"      // registering needs --agree-tos
	kindEAB            = "eab_required"          // the CA needs external account binding
	kindUnreachable    = "ca_unreachable"        // the CA's directory could not be reached
	kindUnauthorized   = "unauthorized"          // the CA refused the account or request
	kindInvalidCert    = "certificate_invalid"   // the issued certificate failed validation
	kindHook           = "hook_failed"           // a hook failed or timed out
	kindDeploy         = "deploy_failed"         // renewed, but a file binding, reload or deploy hook failed
	kindStoreBusy      = "store_busy"            // another process held the store too long
	kindInput          = "invalid_input"         // bad input; nothing was changed
	kindStoreDown      = "store_unreachable"     // the store's servers (etcd) could not be reached
	kindStoreSealed    = "store_sealed"          // a private key is sealed and no store key was given
	kindWrongStoreKey  = "wrong_store_key"       // the store key given did not seal the key needed
	kindOther          = "other"
)

// explanation is an error as the user sees it: its kind and a hint naming
// the fix ("" when none is known).
type explanation struct {
	kind, hint string
}

// explain classifies err and says what to do about it.
func explain(err error) explanation {
	var (
		pb  *acme.PortBusyError
		rl  *acme.RateLimitedError
		ve  *acme.ValidationError
		pe  *acme.PropagationError
		ue  *acme.UnreachableError
		use *usageError
	)
	switch {
	case errors.As(err, &pb):
		return explanation{kindPortBusy, "stop that program, or let it serve the challenges: --webroot DIR with the directory " +
			"it serves at /.well-known/acme-challenge/, or --http-addr with a port it forwards to"}
	case errors.Is(err, acme.ErrPortPrivileged):
		return explanation{kindPortPrivileged, "run as root, or grant the capability (setcap cap_net_bind_service=+ep $(command -v certctl)), " +
			"or use --webroot or --http-addr with a port above 1023 that port 80 is forwarded to"}
	case errors.As(err, &rl):
		h := "wait before trying again"
		if rl.RetryAfter > 0 {
			h = "the CA accepts a new attempt after " + time.Now().Add(rl.RetryAfter).UTC().Format(time.RFC3339) +
				"; certctl will not retry before then"
		}
		return explanation{kindRateLimited, h}
	case errors.As(err, &ve):
		return explainValidation(ve)
	case errors.As(err, &pe):
		at := "the zone's authoritative nameservers"
		if len(pe.Resolvers) > 0 {
			at = strings.Join(pe.Resolvers, ", ")
		}
		return explanation{kindPropagation, fmt.Sprintf("the TXT record %s was not seen at %s within %s; check the DNS provider's "+
			"credentials and that it serves the zone, or raise its propagation timeout (its *_PROPAGATION_TIMEOUT variable)",
			strings.TrimSuffix(pe.FQDN, "."), at, pe.Wait)}
	case errors.Is(err, renew.ErrNoAccount):
		return explanation{kindNoAccount, "register one by agreeing to the CA's terms: add --agree-tos"}
	case errors.Is(err, acme.ErrTOSNotAgreed):
		return explanation{kindTerms, "add --agree-tos to agree to the CA's terms of service"}
	case errors.Is(err, acme.ErrEABRequired):
		return explanation{kindEAB, "this CA needs an external account binding: pass --eab-kid and --eab-hmac-file (or CERTCTL_EAB_HMAC) from the CA's account page"}
	case errors.As(err, &ue):
		return explanation{kindUnreachable, "check --directory, this host's DNS and outbound HTTPS to the CA (proxy, firewall); give a private CA's certificate with --ca-cert"}
	case errors.Is(err, acme.ErrUnauthorized):
		return explanation{kindUnauthorized, "the CA refused the account: check --email and --directory, or register again"}
	case errors.Is(err, acme.ErrInvalidCertificate), errors.Is(err, renew.ErrNotNewer):
		return explanation{kindInvalidCert, "the CA's certificate was refused and the active one kept; report it to the CA if it repeats"}
	case errors.Is(err, command.ErrTimeout), errors.Is(err, renew.ErrHookCommand):
		return explanation{kindHook, "fix or remove the hook (certctl configure NAME --clear-hooks)"}
	case errors.Is(err, store.ErrSealed):
		return explanation{kindStoreSealed, "pass --store-key-file FILE, or set CERTCTL_STORE_KEY_FILE or the systemd credential " + credentialName}
	case errors.Is(err, store.ErrWrongKey):
		return explanation{kindWrongStoreKey, "give the key file that sealed the store (after a rekey, the new one)"}
	case errors.Is(err, store.ErrBusy):
		return explanation{kindStoreBusy, "another certctl process holds the store; try again"}
	case errors.Is(err, acme.ErrNoDNSProvider):
		return explanation{kindInput, "name a DNS provider with --dns"}
	case errors.Is(err, store.ErrUnreachable):
		return explanation{kindStoreDown, "check the endpoints in --store, the TLS files (--etcd-ca, --etcd-cert, --etcd-key), " +
			"the credentials (CERTCTL_ETCD_USERNAME, CERTCTL_ETCD_PASSWORD or --etcd-password-file) and that etcd is running"}
	case errors.As(err, &use), ExitCode(err) == ExitUsage:
		return explanation{kind: kindInput}
	}
	return explanation{kind: kindOther}
}

// explainValidation says why the CA could not validate a name, by the ACME
// problem type it sent and by what certctl's own lookup of the name found.
func explainValidation(ve *acme.ValidationError) explanation {
	d, l := ve.Domain, ve.Lookup
	port := "80"
	if ve.Challenge == acme.TLSALPN01 {
		port = "443"
	}
	switch ve.Problem {
	case "connection", "unauthorized", "incorrectResponse", "tls":
		if l != nil && l.Resolves() && !l.Here() {
			return explanation{kindAddress, elsewhere(d, l, port)}
		}
	}
	switch ve.Problem {
	case "connection":
		if l != nil && l.NoRecords() {
			return explanation{kindDNS, fmt.Sprintf("%s does not resolve (no A or AAAA record); add one with this host's address", d)}
		}
		if timedOut(ve.Detail) {
			return explanation{kindConnection, fmt.Sprintf("the CA's connection to %s port %s timed out: a firewall drops it, "+
				"or a router does not forward the port to this host", d, port)}
		}
		return explanation{kindConnection, fmt.Sprintf("the CA could not connect to %s; check that its A/AAAA records point to this host "+
			"and that port %s is open and forwarded here", d, port)}
	case "dns":
		switch {
		case l != nil && l.NoRecords():
			return explanation{kindDNS, fmt.Sprintf("%s does not resolve (no A or AAAA record); add one with this host's address", d)}
		case l != nil && l.Resolves():
			return explanation{kindDNS, fmt.Sprintf("the CA could not resolve %s, but certctl's lookup at %s found %s; "+
				"the CA's resolvers see other records: check the zone's nameservers and DNSSEC, or wait for the old records to expire",
				d, strings.Join(l.Resolvers, ", "), addrList(l.Addrs, 0))}
		}
		return explanation{kindDNS, fmt.Sprintf("the CA could not resolve %s; check its DNS records (for dns-01, that the TXT record was published)", d)}
	case "unauthorized", "incorrectResponse":
		switch {
		case ve.Challenge == acme.TLSALPN01:
			return explanation{kindToken, fmt.Sprintf("the CA did not get the tls-alpn-01 answer from %s port 443; "+
				"make sure that port reaches certctl's responder and no other TLS server", d)}
		case ve.Challenge == acme.DNS01:
			return explanation{kindToken, fmt.Sprintf("the CA did not find the TXT record _acme-challenge.%s; check the DNS provider's zone", strings.TrimPrefix(d, "*."))}
		case ve.Path != "":
			return explanation{kindToken, fmt.Sprintf("the CA fetched %s and did not get the token certctl wrote to %s; "+
				"make sure the web server for %s serves %s at /.well-known/acme-challenge/", ve.URL, ve.Path, d, webrootOf(ve.Path))}
		case ve.URL != "":
			return explanation{kindToken, fmt.Sprintf("the CA fetched %s and did not get the token; make sure port 80 of %s reaches certctl's responder", ve.URL, d)}
		}
		return explanation{kindToken, fmt.Sprintf("the CA fetched http://%s/.well-known/acme-challenge/TOKEN and did not get the answer; "+
			"make sure that URL reaches this host, and with --webroot that the web server serves that directory", d)}
	case "caa":
		if l != nil && len(l.CAA) > 0 {
			want := "one that names it"
			if len(l.CAAIdentities) > 0 {
				want = fmt.Sprintf(`0 issue "%s"`, l.CAAIdentities[0])
			}
			return explanation{kindCAA, fmt.Sprintf("the CAA records of %s (%s) do not allow this CA; add %s to them",
				l.CAAName, strings.Join(l.CAA, ", "), want)}
		}
		return explanation{kindCAA, fmt.Sprintf("a CAA record of %s (or a parent) does not allow this CA; add one that names it", d)}
	}
	return explanation{kindValidation, fmt.Sprintf("the CA could not validate %s", d)}
}

// elsewhere is the hint for a name whose addresses are not this host's.
func elsewhere(d string, l *acme.Lookup, port string) string {
	here := "this host has " + addrList(l.Host, maxHostAddrs)
	if l.Listen.IsValid() {
		here = fmt.Sprintf("the responder listens on %s (this host: %s)", l.Listen, addrList(l.Host, maxHostAddrs))
	}
	return fmt.Sprintf("%s resolves to %s but %s; point its A/AAAA records here, or forward port %s from that address to this host",
		d, addrList(l.Addrs, 0), here, port)
}

// maxHostAddrs bounds the host addresses a hint lists.
const maxHostAddrs = 6

// addrList lists addrs, link-local ones left out, at most limit of them
// (0: all) followed by "..." when there were more.
func addrList(addrs []netip.Addr, limit int) string {
	var out []string
	for _, a := range addrs {
		if a.IsLinkLocalUnicast() {
			continue
		}
		if limit > 0 && len(out) == limit {
			out = append(out, "...")
			break
		}
		out = append(out, a.String())
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}

// timedOut reports a CA's detail that says its connection timed out. CAs
// give no problem type of their own for it, only words: Boulder's "Timeout
// during connect", Go's "deadline exceeded" and "i/o timeout".
func timedOut(detail string) bool {
	d := strings.ToLower(detail)
	return strings.Contains(d, "timeout") || strings.Contains(d, "timed out") || strings.Contains(d, "deadline exceeded")
}

// webrootOf returns the webroot directory of a token file
// DIR/.well-known/acme-challenge/TOKEN.
func webrootOf(path string) string {
	return filepath.Dir(filepath.Dir(filepath.Dir(path)))
}

// message is err for a line about the certificate called name: the name
// prefixes that callers added are dropped, so the name is said once, by the
// line itself.
func message(name string, err error) string {
	s := oneLine(err)
	if name != "" {
		s = strings.ReplaceAll(s, name+": ", "")
	}
	return s
}

// withHint is msg followed by the hint for err, when there is one.
func withHint(msg string, err error) string {
	if h := explain(err).hint; h != "" {
		return msg + " (" + h + ")"
	}
	return msg
}
