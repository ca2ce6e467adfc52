package certctl

import (
	"context"

	"github.com/certctl/certctl/bindings"
	"github.com/certctl/certctl/store"
)

// withChanges returns s as a [bindings.Notifier] too when its store pushes
// changes ([store.Watcher], the etcd backend), so that [bindings.Binder.Watch]
// swaps a certificate renewed by another node as soon as it is committed
// instead of at the next poll.
func withChanges(s binderSource) bindings.Source {
	if w, ok := any(s.db).(store.Watcher); ok {
		return watchingSource{s, w}
	}
	return s
}

// watchingSource is a binderSource over a store that pushes its changes.
type watchingSource struct {
	binderSource
	w store.Watcher
}

var _ bindings.Notifier = watchingSource{}

// Changes forwards the store's watch.
func (s watchingSource) Changes(ctx context.Context) <-chan struct{} { return s.w.Watch(ctx) }
