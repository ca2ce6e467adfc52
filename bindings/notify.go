package bindings

import (
	"context"
	"time"
)

// Notifier is an optional interface of a [Source] that pushes its changes
// (a store on etcd) instead of being polled. [Binder.Watch] uses it when the
// source has it.
//
// Contract: Changes returns a channel that receives a value soon after any
// certificate of the source changed, and after an interruption of the
// notifications (a disconnect, a gap the source cannot replay), so that the
// reader re-reads the source and misses nothing. Bursts may be coalesced
// into one value. The channel is closed when ctx is done; a channel closed
// earlier means notifications stopped for good and the reader goes back to
// polling. Changes is called once per Watch and must not block.
type Notifier interface {
	Changes(ctx context.Context) <-chan struct{}
}

// SafetyPoll is the shortest interval at which [Binder.Watch] still polls a
// [Notifier] source, in case a notification is lost.
const SafetyPoll = time.Minute

// watchNotified is Watch for a source that pushes its changes: a Sync at
// once, then one per notification, and one every max(interval, SafetyPoll)
// as a safety net. If the notifications stop before ctx is done, it polls
// every interval from then on.
func (b *Binder) watchNotified(ctx context.Context, src Source, n Notifier, interval time.Duration) error {
	// Subscribe before the first pass, so a change committed during it is
	// not missed.
	changes := n.Changes(ctx)
	slow := max(interval, SafetyPoll)
	t := time.NewTicker(slow)
	defer t.Stop()
	for {
		b.syncRecover(ctx, src)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case _, ok := <-changes:
			if !ok {
				if err := ctx.Err(); err != nil {
					return err
				}
				b.log.Warn("source notifications stopped; polling", "interval", interval)
				changes = nil
				slow = interval
				t.Reset(slow)
			}
		case <-t.C:
		}
	}
}
