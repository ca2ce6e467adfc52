package certpem

import "errors"

var (
	// ErrNoCertificate reports PEM input holding no CERTIFICATE block.
	ErrNoCertificate = errors.New("no certificate in PEM input")

	// ErrBadCertificate reports a CERTIFICATE block that does not parse as X.509.
	ErrBadCertificate = errors.New("malformed certificate")

	// ErrNoKey reports a private key that is missing, does not parse, or is of
	// an unsupported kind (an encrypted PEM, a key that cannot sign).
	ErrNoKey = errors.New("no usable private key")

	// ErrKeyMismatch reports a private key whose public half is not the leaf's.
	ErrKeyMismatch = errors.New("private key does not match the certificate")

	// ErrInvalidName reports a certificate name that [CheckName] refuses.
	ErrInvalidName = errors.New("invalid certificate name")
)
