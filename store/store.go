package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Store persists certificates and accounts.
//
// Implementations are safe for concurrent use by several goroutines and by
// several processes sharing one store.
//
// Contract:
//   - Every method takes ctx first. A method that has to wait (for the
//     backend's lock or a per-certificate lock) stops waiting when ctx is done
//     and returns an error wrapping ctx.Err(). A backend that cannot get its
//     own lock within its timeout returns an error wrapping [ErrBusy].
//   - A missing certificate or account yields an error wrapping
//     [ErrNotFound] (Get, Delete, GetAccount).
//   - Records returned are the caller's own copies: changing them does not
//     change the store until they are written with Put.
//   - Put is compare-and-swap: it writes c only if the stored revision equals
//     c.Revision (0 = the record must not exist yet), otherwise it returns an
//     error wrapping [ErrConflict] and writes nothing. On success it sets
//     c.Revision, c.Updated (and c.Created when zero) to what was stored and
//     drops versions beyond [MaxVersions]. The record, its revision, the
//     renewal index and the generation change in one transaction: a crash
//     leaves either the old state or the new one.
//   - Every write (Put, Delete, PutAccount) increases the generation by one;
//     a certificate's Revision is the generation its last write produced.
//     Generation and Revisions are cheap, for pollers that want to know
//     what changed without decoding records.
//   - Lock and TryLock take a per-certificate lock that excludes other
//     goroutines and other processes (or fleet members) using the same
//     store. They do not guard the records themselves: after taking a lock,
//     re-read the record. Calling the returned unlock more than once is
//     harmless.
type Store interface {
	// Get returns the certificate called name.
	Get(ctx context.Context, name string) (*Certificate, error)
	// List returns every certificate, sorted by name.
	List(ctx context.Context) ([]*Certificate, error)
	// Due returns the certificates whose Renewal.Next is not after before,
	// ordered by Renewal.Next (then name). A zero Renewal.Next is never due.
	// Its cost grows with the number of due certificates, not all of them.
	Due(ctx context.Context, before time.Time) ([]*Certificate, error)
	// NextDue returns the earliest Renewal.Next of any certificate, and
	// false when none is scheduled.
	NextDue(ctx context.Context) (time.Time, bool, error)
	// Put writes c if the stored revision equals c.Revision (see the
	// contract above) and sets c.Revision to the new revision.
	Put(ctx context.Context, c *Certificate) error
	// Delete removes the certificate called name.
	Delete(ctx context.Context, name string) error
	// GetAccount returns the account for (directory, email).
	GetAccount(ctx context.Context, directory, email string) (*Account, error)
	// PutAccount creates or replaces the account for (a.Directory, a.Email).
	PutAccount(ctx context.Context, a *Account) error
	// ListAccounts returns every account, sorted by directory then email.
	ListAccounts(ctx context.Context) ([]*Account, error)
	// Generation returns the counter that every write increases.
	Generation(ctx context.Context) (uint64, error)
	// Revisions returns the revision of every certificate, by name.
	Revisions(ctx context.Context) (map[string]uint64, error)
	// Lock takes the per-certificate lock of name, waiting until it is free
	// or ctx is done.
	Lock(ctx context.Context, name string) (unlock func(), err error)
	// TryLock takes the per-certificate lock of name if it is free and
	// reports whether it did; it never waits for another holder.
	TryLock(ctx context.Context, name string) (unlock func(), ok bool, err error)
}

// updateAttempts is how many times Update tries before giving up on
// conflicts. With the back-off below (at most 128 ms a try) that is a few
// seconds of contention at worst; writers that hold the certificate's lock,
// as renew's do, never get near it.
const updateAttempts = 40

// RecordStore is the part of a [Store] that [Update] uses.
type RecordStore interface {
	Get(ctx context.Context, name string) (*Certificate, error)
	Put(ctx context.Context, c *Certificate) error
}

// Update reads the certificate called name, applies fn to it and writes it
// back, starting over when another writer got in between ([ErrConflict]).
// fn may run several times, each time on a fresh copy; an error from fn stops
// Update and is returned as is. Update returns the record as stored.
func Update(ctx context.Context, s RecordStore, name string, fn func(*Certificate) error) (*Certificate, error) {
	for attempt := range updateAttempts {
		c, err := s.Get(ctx, name)
		if err != nil {
			return nil, err
		}
		if err := fn(c); err != nil {
			return nil, err
		}
		if c.Name != name {
			return nil, fmt.Errorf("%s: updating: fn renamed the record to %q: %w", name, c.Name, ErrInvalidRecord)
		}
		err = s.Put(ctx, c)
		if err == nil {
			return c, nil
		}
		if !errors.Is(err, ErrConflict) {
			return nil, err
		}
		if attempt == updateAttempts-1 {
			break
		}
		// Back off exponentially (1 ms doubling up to 128 ms) with full
		// jitter, so that contending writers spread out.
		d := time.Duration(rand.Int64N(int64(time.Millisecond) << min(attempt, 7)))
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%s: updating: %w", name, ctx.Err())
		case <-t.C:
		}
	}
	return nil, fmt.Errorf("%s: updating: gave up after %d attempts: %w", name, updateAttempts, ErrConflict)
}
