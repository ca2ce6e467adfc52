package acme

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrNoARI reports that the CA does not offer ACME Renewal Information.
var ErrNoARI = errors.New("CA does not support renewal information (ARI)")

// ErrTOSNotAgreed reports that registering an account needs the user's
// agreement to the CA's terms of service ([RegisterOptions].AgreeTOS).
var ErrTOSNotAgreed = errors.New("registering an account requires agreeing to the CA's terms of service")

// ErrEABRequired reports a CA that only registers accounts with an external
// account binding (a key ID and HMAC key from the CA).
var ErrEABRequired = errors.New("the CA requires an external account binding")

// ErrNoDNSProvider reports a dns-01 challenge with no DNS provider to
// publish its records; it comes wrapped together with [ErrBadChallenge].
var ErrNoDNSProvider = errors.New("dns-01 needs a DNS provider")

// ErrUnknownDNSProvider reports a DNS provider name that the installed
// registry ([SetDNSProviderLookup]) does not know.
var ErrUnknownDNSProvider = errors.New("unknown DNS provider")

// ErrNoDNSRegistry reports a DNS provider named while no registry of
// providers is linked into the program ([SetDNSProviderLookup]).
var ErrNoDNSRegistry = errors.New("no DNS provider registry linked into this program")

// ErrUnauthorized reports that the CA refused the account or the request.
var ErrUnauthorized = errors.New("unauthorized by the CA")

// ErrBadDomain reports a name that is not a valid DNS name for a certificate.
var ErrBadDomain = errors.New("invalid domain name")

// ErrBadCSR reports a certificate signing request that cannot be used: not
// parseable, a bad signature, or names a CA cannot certify.
var ErrBadCSR = errors.New("invalid certificate signing request")

// ErrBadKeyType reports an unknown key type name.
var ErrBadKeyType = errors.New("unknown key type")

// ErrBadChallenge reports an unknown or incomplete challenge configuration.
var ErrBadChallenge = errors.New("invalid challenge configuration")

// ErrBadDirectory reports a directory that is neither a known shortcut nor an
// http(s) URL.
var ErrBadDirectory = errors.New("invalid ACME directory")

// ErrInvalidCertificate reports an issued certificate that failed validation
// and must not be used.
var ErrInvalidCertificate = errors.New("invalid certificate")

// ErrPortPrivileged reports that the OS refused to bind a responder's port
// for lack of privilege; it comes wrapped together with the OS error
// (syscall.EACCES or EPERM).
var ErrPortPrivileged = errors.New("ports below 1024 need root or the CAP_NET_BIND_SERVICE capability")

// ErrNotValidation reports a TLS handshake with a TLS-ALPN-01 responder
// that is not a CA's validation: its client does not offer exactly the
// acme-tls/1 protocol, so it gets no challenge certificate (RFC 8737
// section 3).
var ErrNotValidation = errors.New("not a tls-alpn-01 validation handshake (the client must offer only acme-tls/1)")

// RateLimitedError reports that the CA refused a request because of a rate
// limit. RetryAfter is how long the CA asked to wait (zero if it did not say).
type RateLimitedError struct {
	RetryAfter time.Duration
	Detail     string
}

// Error implements error.
func (e *RateLimitedError) Error() string {
	if e.RetryAfter > 0 {
		return fmt.Sprintf("rate limited by the CA (retry after %s): %s", e.RetryAfter.Round(time.Second), e.Detail)
	}
	return "rate limited by the CA: " + e.Detail
}

// ValidationError reports that the CA could not validate control of Domain.
// Problem is the ACME problem type without its URN prefix ("connection",
// "dns", "caa", "unauthorized", "incorrectResponse", "tls",
// "rejectedIdentifier"; "" when the CA gave none) and Detail the CA's own
// explanation.
type ValidationError struct {
	Domain  string
	Problem string
	Detail  string
	// Challenge is the type of the challenge that failed ([HTTP01], ...).
	Challenge string
	// URL is the URL the CA fetched for an http-01 challenge,
	// "http://DOMAIN/.well-known/acme-challenge/TOKEN"; "" otherwise.
	URL string
	// Path is the file certctl wrote for that token under the webroot
	// ([Challenge.Webroot]); "" without a webroot.
	Path string
	// Lookup is what certctl's own look at Domain found after the failure
	// (see [Config.Resolvers]); nil when it made none.
	Lookup *Lookup
	Err    error
}

// Error implements error.
func (e *ValidationError) Error() string {
	return fmt.Sprintf("%s: validation failed: %s", e.Domain, e.Detail)
}

// Unwrap returns the underlying error.
func (e *ValidationError) Unwrap() error { return e.Err }

// PropagationError reports that the TXT record of a dns-01 challenge was
// never seen by the resolvers asked while the record's DNS provider allowed
// (its propagation timeout): the CA was not asked to validate.
type PropagationError struct {
	// Domain is the name being validated and FQDN the record's name
	// ("_acme-challenge.example.com.").
	Domain, FQDN string
	// Resolvers are the recursive resolvers asked ([Challenge.DNSResolvers]);
	// empty when the zone's authoritative nameservers were asked.
	Resolvers []string
	// Wait is how long the record was waited for.
	Wait time.Duration
	// Err is the last check's failure.
	Err error
}

// Error implements error.
func (e *PropagationError) Error() string {
	at := "the authoritative nameservers"
	if len(e.Resolvers) > 0 {
		at = strings.Join(e.Resolvers, ", ")
	}
	return fmt.Sprintf("%s: TXT record %s not seen at %s within %s: %v", e.Domain, e.FQDN, at, e.Wait, e.Err)
}

// Unwrap returns the last check's failure.
func (e *PropagationError) Unwrap() error { return e.Err }

// UnreachableError reports that the CA at Directory could not be reached.
type UnreachableError struct {
	Directory string
	Err       error
}

// Error implements error.
func (e *UnreachableError) Error() string {
	return fmt.Sprintf("%s: CA unreachable: %v", e.Directory, e.Err)
}

// Unwrap returns the underlying error.
func (e *UnreachableError) Unwrap() error { return e.Err }

// PortBusyError reports that a responder's port Addr is held by another
// process: at once when that process is known not to be certctl (a web
// server on port 80), which will not release it, otherwise after waiting for
// it in vain or until the context ended. PID and Process name the holder
// when known (zero and "" if not); Err is the bind error, which wraps
// syscall.EADDRINUSE.
type PortBusyError struct {
	Addr    string
	PID     int
	Process string
	Err     error
}

// Error implements error.
func (e *PortBusyError) Error() string {
	switch {
	case e.PID != 0 && e.Process != "":
		return fmt.Sprintf("port %s is in use by %s (pid %d)", e.Addr, e.Process, e.PID)
	case e.PID != 0:
		return fmt.Sprintf("port %s is in use by another program (pid %d)", e.Addr, e.PID)
	}
	return fmt.Sprintf("port %s is in use by another program", e.Addr)
}

// Unwrap returns the underlying error.
func (e *PortBusyError) Unwrap() error { return e.Err }
