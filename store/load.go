package store

import (
	"context"
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
	// ChainVerified reports that the store checked, when it wrote the
	// record, that these very FullchainPEM bytes are at least two
	// certificates each signed by the next, the last not a self-signed root
	// (the check a binder without configured roots makes). A binder may then
	// skip the signature checks; it still checks the key against the leaf,
	// the validity dates and the names.
	ChainVerified bool
}

// activePEM is the active version v of c as LoadActive returns it; a key
// that stays sealed is an error.
func activePEM(c *Certificate, v *Version) (ActivePEM, error) {
	key, err := v.Key()
	if err != nil {
		return ActivePEM{}, fmt.Errorf("%s: %w", c.Name, err)
	}
	full := v.Fullchain()
	return ActivePEM{Name: c.Name, FullchainPEM: full, KeyPEM: key, Domains: c.Domains, Revision: c.Revision,
		ChainVerified: markMatches(c, full)}, nil
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
