package store

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// lockAttempts bounds how many fresh sessions one Lock or TryLock tries
// when the session it used ended under it.
const lockAttempts = 3

// errClosed is returned by locks asked of a closed Etcd.
var errClosed = errors.New("store closed")

// gate returns the in-process gate of name. The goroutines of this Etcd
// share one session, and an etcd mutex lets every holder of its session
// in: they queue on the gate first, and only the gate's owner takes the
// etcd mutex.
func (e *Etcd) gate(name string) chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	g, ok := e.gates[name]
	if !ok {
		g = make(chan struct{}, 1)
		e.gates[name] = g
	}
	return g
}

// session returns the locks' session, starting a new one when there is
// none or the last one ended (its lease expired or could not be kept
// alive).
func (e *Etcd) session(ctx context.Context) (*concurrency.Session, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, errClosed
	}
	if e.sess != nil {
		select {
		case <-e.sess.Done():
			e.sess = nil
		default:
			return e.sess, nil
		}
	}
	// Grant the lease here, bounded like any request: NewSession would
	// wait on an unreachable etcd for as long as the client lives.
	rctx, cancel := e.reqCtx(ctx)
	g, err := e.cli.Grant(rctx, int64(e.lockTTL))
	cancel()
	if err != nil {
		return nil, e.classify(ctx, err)
	}
	s, err := concurrency.NewSession(e.cli, concurrency.WithLease(g.ID), concurrency.WithTTL(e.lockTTL))
	if err != nil {
		return nil, e.classify(ctx, err)
	}
	e.sess = s
	return s, nil
}

// sessionEnded reports whether a lock attempt on s failed because s
// ended (its lease expired or was revoked), and if so forgets s, so that
// the next attempt starts a new session even before s's keep-alive loop
// noticed.
func (e *Etcd) sessionEnded(s *concurrency.Session, err error) bool {
	ended := errors.Is(err, concurrency.ErrSessionExpired) || errors.Is(err, rpctypes.ErrLeaseNotFound)
	select {
	case <-s.Done():
		ended = true
	default:
	}
	if ended {
		e.mu.Lock()
		if e.sess == s {
			e.sess = nil
		}
		e.mu.Unlock()
		s.Orphan()
	}
	return ended
}

// Lock takes the per-certificate lock of name, waiting until it is free or
// ctx is done. The lock is an etcd mutex on the key prefix locks/NAME
// held by this Etcd's session: it excludes other goroutines, processes and
// machines alike, and is lost when the session's lease expires.
func (e *Etcd) Lock(ctx context.Context, name string) (unlock func(), err error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	gate := e.gate(name)
	select {
	case gate <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("%s: locking: %w", name, ctx.Err())
	}
	for attempt := 1; ; attempt++ {
		s, err := e.session(ctx)
		if err != nil {
			<-gate
			return nil, fmt.Errorf("%s: locking: %w", name, err)
		}
		m := concurrency.NewMutex(s, e.lockPrefix(name))
		// Mutex.Lock waits for the keys ahead of ours to go, even when our
		// own lease expired meanwhile: stop it when the session ends.
		wctx, cancel := context.WithCancel(ctx)
		go func() {
			select {
			case <-s.Done():
				cancel()
			case <-wctx.Done():
			}
		}()
		err = m.Lock(wctx)
		cancel()
		if err == nil {
			return e.hold(name, gate, m), nil
		}
		e.abandon(m)
		if ctx.Err() != nil {
			<-gate
			return nil, fmt.Errorf("%s: locking: %w", name, ctx.Err())
		}
		if e.sessionEnded(s, err) && attempt < lockAttempts {
			continue
		}
		<-gate
		return nil, fmt.Errorf("%s: locking: %w", name, e.classify(ctx, err))
	}
}

// TryLock takes the per-certificate lock of name if no one holds it; it
// never waits for another holder (only for etcd to answer).
func (e *Etcd) TryLock(ctx context.Context, name string) (unlock func(), ok bool, err error) {
	if err := checkName(name); err != nil {
		return nil, false, err
	}
	if err := ctx.Err(); err != nil {
		return nil, false, fmt.Errorf("%s: locking: %w", name, err)
	}
	gate := e.gate(name)
	select {
	case gate <- struct{}{}:
	default:
		return nil, false, nil
	}
	for attempt := 1; ; attempt++ {
		s, err := e.session(ctx)
		if err != nil {
			<-gate
			return nil, false, fmt.Errorf("%s: locking: %w", name, err)
		}
		m := concurrency.NewMutex(s, e.lockPrefix(name))
		rctx, cancel := e.reqCtx(ctx)
		err = m.TryLock(rctx)
		cancel()
		if err == nil {
			return e.hold(name, gate, m), true, nil
		}
		e.abandon(m)
		if errors.Is(err, concurrency.ErrLocked) {
			<-gate
			return nil, false, nil
		}
		if e.sessionEnded(s, err) && attempt < lockAttempts && ctx.Err() == nil {
			continue
		}
		<-gate
		return nil, false, fmt.Errorf("%s: locking: %w", name, e.classify(ctx, err))
	}
}

// abandon deletes the key of a mutex that failed to lock, if it is still
// there (a request that timed out after etcd applied it), so it does not
// block others until the session ends. The gate is still held: no other
// goroutine of this Etcd uses that key.
func (e *Etcd) abandon(m *concurrency.Mutex) {
	k := m.Key()
	if k == "" || k == "\x00" {
		return
	}
	ctx, cancel := e.reqCtx(context.Background())
	defer cancel()
	if _, err := e.cli.Delete(ctx, k); err != nil {
		e.log.Warn("etcd store: removing an abandoned lock key", "key", k, "err", err)
	}
}

// hold records a taken lock for fencing and returns its unlock function:
// it forgets the lock, deletes its key and releases the gate. Calling it
// twice is harmless.
func (e *Etcd) hold(name string, gate chan struct{}, m *concurrency.Mutex) func() {
	owner := m.IsOwner()
	e.mu.Lock()
	e.held[name] = heldLock{key: m.Key(), rev: owner.GetCompare().GetCreateRevision()}
	e.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			e.mu.Lock()
			delete(e.held, name)
			e.mu.Unlock()
			ctx, cancel := e.reqCtx(context.Background())
			if err := m.Unlock(ctx); err != nil {
				e.log.Warn("etcd store: releasing certificate lock", "name", name, "err", err)
			}
			cancel()
			<-gate
		})
	}
}
