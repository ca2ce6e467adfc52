package renew

import (
	"errors"

	"github.com/certctl/certctl/internal/command"
)

// ErrNoAccount reports that no ACME account exists for a certificate's
// directory and email, and none may be registered without the user's
// agreement to the CA's terms ([Accounts.AgreeTOS]).
var ErrNoAccount = errors.New("no ACME account")

// ErrNotNewer reports an issued certificate that does not expire after the
// active one, which is therefore kept.
var ErrNotNewer = errors.New("new certificate does not expire after the active one")

// ErrNoPrevious reports a rollback with no earlier usable version.
var ErrNoPrevious = errors.New("no earlier valid version to roll back to")

// ErrHookTimeout reports a hook killed, with its whole process group, because
// it ran longer than its timeout. It is the error of every command certctl
// runs, reload commands included.
var ErrHookTimeout = command.ErrTimeout

// ErrNotifierClosed reports a notifier closed before it delivered every
// notification.
var ErrNotifierClosed = errors.New("notifier closed with notifications pending")

// ErrHookCommand reports a hook command that cannot work as written.
var ErrHookCommand = errors.New("invalid hook command")

// ErrBadSchedule reports a cron spec that does not parse or never fires.
var ErrBadSchedule = errors.New("invalid schedule")

// ErrLockHeld reports a certificate whose lock another certctl process (or
// another goroutine) held for longer than the service's LockTimeout; its
// message is "another certctl holds the lock of NAME".
var ErrLockHeld = errors.New("another certctl holds the certificate's lock")

// ErrPanic reports a renewal that panicked; the panic was recovered and the
// attempt recorded as failed.
var ErrPanic = errors.New("renewal panicked")
