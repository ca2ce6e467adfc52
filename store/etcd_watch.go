package store

import (
	"context"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Back-off of Watch between attempts to re-establish a watch.
const (
	watchRetryMin = 100 * time.Millisecond
	watchRetryMax = 5 * time.Second
)

// Watch returns a channel that receives a value soon after any
// certificate is written or deleted, by any process (see [Watcher]). It
// watches the certs/ keys from the revision it started at; etcd's client
// resumes the watch after a disconnect from the last revision seen, and
// when the watch ends (no leader, an error) Watch starts it again from
// there. Every write after Watch returns is reported (Watch asks etcd
// for its current revision first, waiting at most [Options.DialTimeout]).
// When etcd compacted past the revision reached, Watch starts again from
// the current revision and sends a value, so the reader re-reads. The
// channel is closed when ctx is done or the Etcd is closed.
func (e *Etcd) Watch(ctx context.Context) <-chan struct{} {
	// Learn the current revision now, so that every write after Watch
	// returns is reported. If etcd does not answer, the loop asks again
	// and then sends a value, since writes may have come in between.
	rctx, cancel := context.WithTimeout(ctx, e.dialTO)
	defer cancel()
	resp, err := e.cli.Get(rctx, e.genKey())
	ch := make(chan struct{}, 1)
	if err != nil {
		go e.watchLoop(ctx, 0, true, ch)
	} else {
		go e.watchLoop(ctx, resp.Header.Revision, false, ch)
	}
	return ch
}

// watchFrom is Watch from the revision after rev.
func (e *Etcd) watchFrom(ctx context.Context, rev int64) <-chan struct{} {
	ch := make(chan struct{}, 1)
	go e.watchLoop(ctx, rev, false, ch)
	return ch
}

// watchLoop watches from the revision after rev (0: the current one, then
// a value is sent on ch if resync is set) until ctx is done.
func (e *Etcd) watchLoop(ctx context.Context, rev int64, resync bool, ch chan struct{}) {
	defer close(ch)
	notify := func() {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	done := func() bool { return ctx.Err() != nil || e.cli.Ctx().Err() != nil }
	wait := watchRetryMin
	pause := func() bool {
		t := time.NewTimer(wait)
		defer t.Stop()
		wait = min(2*wait, watchRetryMax)
		select {
		case <-ctx.Done():
			return false
		case <-e.cli.Ctx().Done():
			return false
		case <-t.C:
			return true
		}
	}
	for !done() {
		if rev == 0 {
			// Start from the current revision. After a compaction the
			// reader is told only now, so that what it re-reads is at
			// least as new as where the watch starts.
			rctx, cancel := e.reqCtx(ctx)
			resp, err := e.cli.Get(rctx, e.genKey())
			cancel()
			if err != nil {
				if !pause() {
					return
				}
				continue
			}
			rev = resp.Header.Revision
			if resync {
				notify()
				resync = false
			}
		}
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		wch := e.cli.Watch(wctx, e.pfx+"certs/", clientv3.WithPrefix(), clientv3.WithRev(rev+1), clientv3.WithProgressNotify())
		for resp := range wch {
			if resp.CompactRevision != 0 {
				e.log.Info("etcd store: watch fell behind a compaction; resyncing", "store", e.loc, "revision", rev, "compacted", resp.CompactRevision)
				rev, resync = 0, true
				break
			}
			if resp.Err() != nil {
				break
			}
			wait = watchRetryMin
			for _, ev := range resp.Events {
				rev = max(rev, ev.Kv.ModRevision)
			}
			if len(resp.Events) > 0 {
				notify()
			} else if resp.IsProgressNotify() {
				rev = max(rev, resp.Header.Revision)
			}
		}
		cancel()
		if done() {
			return
		}
		if !resync && !pause() {
			return
		}
	}
}
