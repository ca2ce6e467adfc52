package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/certctl/certctl/acme"
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

// partialError reports that some of several operations failed.
type partialError struct{ failed, total int }

func (e *partialError) Error() string {
	return fmt.Sprintf("%d of %d renewals failed", e.failed, e.total)
}

// hints name the flags that fix errors the library reports without knowing
// about flags.
var hints = []struct {
	err  error
	hint string
}{
	{renew.ErrNoAccount, "register one with --agree-tos"},
	{acme.ErrTOSNotAgreed, "pass --agree-tos"},
	{acme.ErrEABRequired, "pass --eab-kid and --eab-hmac"},
	{acme.ErrNoDNSProvider, "name one with --dns"},
}

// describe is err as the user sees it: one line, with a hint naming the
// flag that fixes it when there is one.
func describe(err error) string {
	s := oneLine(err)
	for _, h := range hints {
		if errors.Is(err, h.err) {
			return s + " (" + h.hint + ")"
		}
	}
	return s
}

// ExitCode maps an error to certctl's exit code. It is the only place that
// does.
func ExitCode(err error) int {
	var ue *usageError
	var pe *partialError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &pe):
		return ExitPartial
	case errors.As(err, &ue),
		errors.Is(err, acme.ErrBadDomain),
		errors.Is(err, acme.ErrBadKeyType),
		errors.Is(err, acme.ErrBadChallenge),
		errors.Is(err, acme.ErrBadDirectory),
		errors.Is(err, acme.ErrTOSNotAgreed),
		errors.Is(err, renew.ErrNoAccount),
		errors.Is(err, store.ErrInvalidName),
		errors.Is(err, store.ErrStoreDir),
		errors.Is(err, store.ErrNotStore),
		errors.Is(err, store.ErrSchemaTooNew),
		errors.Is(err, store.ErrNotFound):
		return ExitUsage
	case errors.Is(err, context.Canceled):
		return ExitFailure
	}
	return ExitFailure
}
