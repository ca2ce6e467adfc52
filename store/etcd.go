package store

import (
	"context"
	"errors"
)

// openEtcd opens the etcd store that u names (see [OpenURL]). Being
// written: see issue 9.
func openEtcd(ctx context.Context, u string, opts *Options) (Backend, error) {
	return nil, errors.New("store " + u + ": the etcd backend is not built yet")
}
