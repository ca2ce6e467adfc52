package store

import (
	"context"
	"errors"
	"fmt"
)

// ActivePEM is the active version of a certificate in the form a TLS server
// loads it, as [DB.LoadActive] returns it.
type ActivePEM struct {
	// Name is the certificate's name.
	Name string
	// FullchainPEM is the leaf followed by its issuers.
	FullchainPEM []byte
	// KeyPEM is the private key.
	KeyPEM []byte
	// Domains are the names the certificate must serve.
	Domains []string
	// Revision is the record's revision.
	Revision uint64
	// KeyHeldElsewhere says the store holds no key for it (ordered with the
	// user's CSR): KeyPEM is nil and it cannot be served from the store.
	KeyHeldElsewhere bool
}

// activePEM is the active version v of c as LoadActive returns it; a key
// that stays sealed is an error.
func activePEM(c *Certificate, v *Version) (ActivePEM, error) {
	key, err := v.Key()
	if errors.Is(err, ErrNoKey) {
		return ActivePEM{Name: c.Name, FullchainPEM: v.Fullchain(), Domains: c.Domains, Revision: c.Revision, KeyHeldElsewhere: true}, nil
	}
	if err != nil {
		return ActivePEM{}, fmt.Errorf("%s: %w", c.Name, err)
	}
	return ActivePEM{Name: c.Name, FullchainPEM: v.Fullchain(), KeyPEM: key, Domains: c.Domains, Revision: c.Revision}, nil
}

// LoadActive reads the active versions of the certificates called names in
// one read transaction, in the order of names. A name without a record or
// without an active version is left out; an active version whose key stays
// sealed fails it ([ErrSealed], [ErrWrongKey]). The values are copied out of the
// transaction: the caller owns them. It lets a hot-reload binder follow the
// store without this package knowing the binder (the certctl package adapts
// it).
func (db *DB) LoadActive(ctx context.Context, names []string) ([]ActivePEM, error) {
	out := make([]ActivePEM, 0, len(names))
	err := db.view(ctx, func(b *buckets) error {
		for _, name := range names {
			c, err := b.cert(name)
			if err != nil {
				return err
			}
			if c == nil {
				continue
			}
			if v := c.ActiveVersion(); v != nil {
				a, err := activePEM(c, v)
				if err != nil {
					return err
				}
				out = append(out, a)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("loading certificates: %w", err)
	}
	return out, nil
}
