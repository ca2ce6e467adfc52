package certctl

import (
	"context"

	"github.com/certctl/certctl/bindings"
	"github.com/certctl/certctl/store"
)

// BinderSource returns db as a [bindings.Source], for [bindings.Binder.Sync]
// and [bindings.Binder.Watch]: each certificate's active version is served
// for its record's domains, and a version that does not cover them is
// refused. Each Load reads its batch of names in one store transaction. When
// the store pushes its changes ([store.Watcher]: etcd) the Source is also a
// [bindings.Notifier], so Watch swaps renewals in as they are committed. A nil
// db gives a nil Source, which Sync and Watch refuse with
// [bindings.ErrNilSource].
func BinderSource(db *store.DB) bindings.Source {
	if db == nil {
		return nil
	}
	return withChanges(binderSource{db})
}

// binderSource adapts a store.DB to bindings.Source.
type binderSource struct{ db *store.DB }

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
		out[i] = bindings.Loaded{Name: a.Name, FullchainPEM: a.FullchainPEM, KeyPEM: a.KeyPEM, Names: a.Domains, Revision: a.Revision}
	}
	return out, nil
}
