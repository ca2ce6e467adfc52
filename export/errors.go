package export

import (
	"errors"

	"github.com/certctl/certctl/internal/certpem"
	"github.com/certctl/certctl/internal/command"
	"github.com/certctl/certctl/internal/fsx"
)

var (
	// ErrNoTarget reports a FileTarget with neither Dir nor PFX set.
	ErrNoTarget = errors.New("export: file target has neither a directory nor a PFX path")

	// ErrNoPassword reports a PFX password that could not be resolved: the
	// named environment variable is unset.
	ErrNoPassword = errors.New("export: no PFX password")

	// ErrCommandTimeout reports a reload command killed, with its process
	// group, because it ran longer than its timeout.
	ErrCommandTimeout = command.ErrTimeout

	// ErrInvalidName reports a certificate name that cannot be a directory
	// name: empty, too long, holding '/', '\', "..", spaces or control
	// characters, or starting with '-'.
	ErrInvalidName = certpem.ErrInvalidName

	// ErrNoCertificate reports certificate PEM holding no certificate.
	ErrNoCertificate = certpem.ErrNoCertificate

	// ErrBadCertificate reports a certificate block that does not parse as X.509.
	ErrBadCertificate = certpem.ErrBadCertificate

	// ErrNoKey reports a private key that is missing, does not parse, or is of
	// an unsupported kind (an encrypted PEM, a key that cannot sign).
	ErrNoKey = certpem.ErrNoKey

	// ErrUnsafeDir reports a directory Export refuses to write in: a
	// symbolic link (DIR/NAME, WriteDir's directory or the PFX's parent), not
	// a directory, owned by another user, or writable by others and not
	// owned by certctl's user.
	ErrUnsafeDir = fsx.ErrUnsafeDir

	// ErrKeyHeldElsewhere reports an export that needs the private key (a
	// PFX) of a certificate whose key certctl does not hold: it was ordered
	// with the user's own CSR.
	ErrKeyHeldElsewhere = errors.New("no private key: it is held elsewhere (certificate ordered with a CSR)")

	// ErrKeyMismatch reports a private key whose public half is not the leaf's.
	ErrKeyMismatch = certpem.ErrKeyMismatch
)
