package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/certctl/certctl/acme"
	"github.com/certctl/certctl/export"
	"github.com/certctl/certctl/renew"
	"github.com/certctl/certctl/store"
)

// Exit codes.
const (
	ExitOK      = 0 // success
	ExitFailure = 1 // the operation failed (the CA said no, network, busy store)
	ExitUsage   = 2 // usage error or bad input; nothing was changed
	ExitPartial = 3 // some of several renewals failed
)

// usageError marks bad input found by certctl itself.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// refusedError is bad input that --help would not fix (a store that is not
// empty, a source that is not a store): exit code ExitUsage, one line.
type refusedError struct{ msg string }

func (e *refusedError) Error() string { return e.msg }

func refusef(format string, args ...any) error { return &refusedError{fmt.Sprintf(format, args...)} }

// failedError summarizes results that were already reported one by one:
// its message is the summary only, and it wraps the last failure so that
// the exit code is that failure's (see ExitCode).
type failedError struct {
	failed, total int
	what          string // what each result is: "issue", "renewal"
	last          error
}

func (e *failedError) Error() string {
	if e.total == 1 {
		return e.what + " failed (reported above)"
	}
	return fmt.Sprintf("%d of %d %ss failed (reported above)", e.failed, e.total, e.what)
}

func (e *failedError) Unwrap() error { return e.last }

// partial reports some, not all, of several operations failed.
func (e *failedError) partial() bool { return e.total > 1 && e.failed < e.total }

// ExitCode maps an error to certctl's exit code. It is the only place that
// does.
func ExitCode(err error) int {
	var ue *usageError
	var re *refusedError
	var fe *failedError
	var cs *checkState
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &cs):
		// certctl check: its state, by the monitoring convention.
		return cs.state
	case errors.As(err, &fe) && fe.partial():
		return ExitPartial
	case errors.As(err, &ue), errors.As(err, &re),
		errors.Is(err, acme.ErrBadDomain),
		errors.Is(err, acme.ErrBadKeyType),
		errors.Is(err, acme.ErrBadChallenge),
		errors.Is(err, acme.ErrBadCSR),
		errors.Is(err, store.ErrNoKey),
		errors.Is(err, acme.ErrBadDirectory),
		errors.Is(err, acme.ErrTOSNotAgreed),
		errors.Is(err, renew.ErrNoAccount),
		errors.Is(err, store.ErrInvalidName),
		errors.Is(err, store.ErrStoreDir),
		errors.Is(err, store.ErrNotStore),
		errors.Is(err, store.ErrSchemaTooNew),
		errors.Is(err, store.ErrNotFound),
		errors.Is(err, store.ErrUnsafePath),
		errors.Is(err, store.ErrCorrupt),
		errors.Is(err, store.ErrSealed),
		errors.Is(err, store.ErrWrongKey),
		errors.Is(err, export.ErrUnsafeDir):
		return ExitUsage
	case errors.Is(err, context.Canceled):
		return ExitFailure
	}
	return ExitFailure
}
