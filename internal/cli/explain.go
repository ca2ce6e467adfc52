package cli

import (
	"errors"
	"fmt"
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
	kindDNS            = "validation_dns"        // the CA could not resolve the name
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
	case errors.Is(err, store.ErrBusy):
		return explanation{kindStoreBusy, "another certctl process holds the store; try again"}
	case errors.Is(err, acme.ErrNoDNSProvider):
		return explanation{kindInput, "name a DNS provider with --dns"}
	case errors.As(err, &use), ExitCode(err) == ExitUsage:
		return explanation{kind: kindInput}
	}
	return explanation{kind: kindOther}
}

// explainValidation says why the CA could not validate a name, by the ACME
// problem type it sent.
func explainValidation(ve *acme.ValidationError) explanation {
	d := ve.Domain
	switch ve.Problem {
	case "connection":
		return explanation{kindConnection, fmt.Sprintf("the CA could not connect to %s; check that its A/AAAA records point to this host "+
			"and that port 80 (http-01) or 443 (tls-alpn-01) is open and forwarded here", d)}
	case "dns":
		return explanation{kindDNS, fmt.Sprintf("the CA could not resolve %s; check its DNS records (for dns-01, that the TXT record was published)", d)}
	case "unauthorized", "incorrectResponse":
		return explanation{kindToken, fmt.Sprintf("the CA fetched http://%s/.well-known/acme-challenge/TOKEN and did not get the answer; "+
			"make sure that URL reaches this host, and with --webroot that the web server serves that directory", d)}
	case "caa":
		return explanation{kindCAA, fmt.Sprintf("a CAA record of %s (or a parent) does not allow this CA; add one that names it", d)}
	}
	return explanation{kindValidation, fmt.Sprintf("the CA could not validate %s", d)}
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
