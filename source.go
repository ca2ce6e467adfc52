package certctl

import (
	"context"

	"github.com/certctl/certctl/bindings"
	"github.com/certctl/certctl/store"
)

// SourceStore is what [BinderSource] reads of a store: the change counters
// and the batch loader of active versions. Every [store.Backend] (bbolt and
// etcd) has them.
type SourceStore interface {
	Generation(ctx context.Context) (uint64, error)
	Revisions(ctx context.Context) (map[string]uint64, error)
	LoadActive(ctx context.Context, names []string) ([]store.ActivePEM, error)
}

var _ SourceStore = (store.Backend)(nil)

// BinderSource returns db as a [bindings.Source], for [bindings.Binder.Sync]
// and [bindings.Binder.Watch]: each certificate's active version is served
// for its record's domains, and a version that does not cover them is
// refused. Each Load reads its batch of names in one store transaction. When
// the store pushes its changes ([store.Watcher]: etcd) the Source is also a
// [bindings.Notifier], so Watch swaps renewals in as they are committed. A nil
// db (or a nil *store.DB) gives a nil Source, which Sync and Watch refuse
// with [bindings.ErrNilSource].
func BinderSource(db SourceStore) bindings.Source {
	if d, ok := db.(*store.DB); db == nil || (ok && d == nil) {
		return nil
	}
	return withChanges(binderSource{db})
}

// binderSource adapts a store to bindings.Source.
type binderSource struct{ db SourceStore }

var _ bindings.Source = binderSource{}

func (s binderSource) Generation(ctx context.Context) (uint64, error) {
	return s.db.Generation(ctx)
}

func (s binderSource) Revisions(ctx context.Context) (map[string]uint64, error) {
	return s.db.Revisions(ctx)
}

func (s binderSource) Load(ctx context.Context, names []string) ([]bindings.Loaded, error) {
	active, err := s.db.LoadActive(ctx, names)
	if err != nil {
		return nil, err
	}
	out := make([]bindings.Loaded, len(active))
	for i, a := range active {
		out[i] = bindings.Loaded{Name: a.Name, FullchainPEM: a.FullchainPEM, KeyPEM: a.KeyPEM, Names: a.Domains, Revision: a.Revision,
			ChainVerified: a.ChainVerified}
		if a.KeyHeldElsewhere {
			out[i].Skip = "no private key: it is held elsewhere (certificate ordered with a CSR)"
		}
	}
	return out, nil
}
