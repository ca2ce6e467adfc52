package bindings

import (
	"errors"
	"strconv"
)

var (
	// ErrNoCertificate reports input holding no certificate: an empty or
	// garbage PEM, or a tls.Certificate without DER.
	ErrNoCertificate = errors.New("bindings: no certificate")

	// ErrBadCertificate reports a certificate block that does not parse as X.509.
	ErrBadCertificate = errors.New("bindings: malformed certificate")

	// ErrNoKey reports a private key that is missing, does not parse, or is of
	// an unsupported kind (encrypted PEM, a key that cannot sign).
	ErrNoKey = errors.New("bindings: no usable private key")

	// ErrKeyMismatch reports a private key whose public half is not the leaf's.
	ErrKeyMismatch = errors.New("bindings: private key does not match the certificate")

	// ErrNotYetValid reports a leaf whose NotBefore is still in the future.
	ErrNotYetValid = errors.New("bindings: certificate not yet valid")

	// ErrExpired reports a leaf whose NotAfter has passed.
	ErrExpired = errors.New("bindings: certificate expired")

	// ErrNameMismatch reports a requested name the leaf does not cover.
	ErrNameMismatch = errors.New("bindings: certificate does not cover the name")

	// ErrBadChain reports a chain that does not verify: a broken signature link,
	// an expired intermediate, or no path to Options.Roots when it is set.
	ErrBadChain = errors.New("bindings: chain does not verify")

	// ErrInvalidName reports an empty binding name or an empty requested name.
	ErrInvalidName = errors.New("bindings: invalid name")

	// ErrUnknownName is matched (errors.Is) by the error GetCertificate returns
	// when no certificate serves the client's server name, or when the client
	// sent no server name and there is no default certificate.
	ErrUnknownName = errors.New("bindings: no certificate for server name")

	// ErrNilSource reports a nil Source passed to Sync or Watch.
	ErrNilSource = errors.New("bindings: nil source")
)

// missError is GetCertificate's error for an unknown server name. It holds the
// client's string without copying it and formats only when printed, so a miss
// costs one small allocation.
type missError struct{ name string }

// errNoDefault is returned, preallocated, to a client without SNI when the
// binder holds no certificate at all.
var errNoDefault error = &missError{}

func (e *missError) Error() string {
	if e.name == "" {
		return "bindings: no default certificate for a client without server name"
	}
	return "bindings: no certificate for " + strconv.Quote(e.name)
}

func (e *missError) Is(target error) bool { return target == ErrUnknownName }
