package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
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
	if errors.Is(err, ErrNoKey) {
		return ActivePEM{Name: c.Name, FullchainPEM: v.Fullchain(), Domains: c.Domains, Revision: c.Revision, KeyHeldElsewhere: true}, nil
	}
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
// it). The records are copied out of the transaction as they are and decoded
// after it, on up to GOMAXPROCS goroutines.
func (db *DB) LoadActive(ctx context.Context, names []string) ([]ActivePEM, error) {
	type raw struct {
		name string
		data []byte
		rev  uint64
	}
	recs := make([]raw, 0, len(names))
	err := db.view(ctx, func(b *buckets) error {
		for _, name := range names {
			if v := b.certs.Get([]byte(name)); v != nil {
				recs = append(recs, raw{name, bytes.Clone(v), b.revision(name)})
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("loading certificates: %w", err)
	}
	found := make([]ActivePEM, len(recs))
	has := make([]bool, len(recs))
	err = parallel(len(recs), func(i int) (err error) {
		found[i], has[i], err = decodeActive(db.seal, recs[i].name, recs[i].data, recs[i].rev)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("loading certificates: %w", err)
	}
	out := make([]ActivePEM, 0, len(recs))
	for i, a := range found {
		if has[i] {
			out = append(out, a)
		}
	}
	return out, nil
}

// activeRecord is the part of a stored record LoadActive reads: the PEM
// blocks and keys of the versions are left encoded, so that only the
// active version's are decoded (and its key alone opened).
type activeRecord struct {
	Name     string   `json:"name"`
	Domains  []string `json:"domains"`
	Active   int      `json:"active"`
	Versions []struct {
		Seq       int             `json:"seq"`
		CertPEM   json.RawMessage `json:"cert_pem"`
		ChainPEM  json.RawMessage `json:"chain_pem"`
		KeyPEM    json.RawMessage `json:"key_pem"`
		SealedKey json.RawMessage `json:"key_sealed"`
	} `json:"versions"`
	ChainChecked []byte `json:"chain_checked"`
}

// decodeActive is what decodeCert and activePEM give for a stored record,
// decoding only the active version; ok is false when there is none.
func decodeActive(s *sealer, name string, data []byte, rev uint64) (a ActivePEM, ok bool, err error) {
	var r activeRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return a, false, fmt.Errorf("%s: decoding record: %w: %w", name, ErrCorrupt, err)
	}
	if r.Active == 0 {
		return a, false, nil
	}
	for _, rv := range r.Versions {
		if rv.Seq != r.Active {
			continue
		}
		v := Version{Seq: rv.Seq}
		var keyPEM, sealed []byte
		for _, f := range []struct {
			raw json.RawMessage
			dst *[]byte
		}{{rv.CertPEM, &v.CertPEM}, {rv.ChainPEM, &v.ChainPEM}, {rv.KeyPEM, &keyPEM}, {rv.SealedKey, &sealed}} {
			if len(f.raw) == 0 {
				continue
			}
			if err := json.Unmarshal(f.raw, f.dst); err != nil {
				return a, false, fmt.Errorf("%s: decoding record: %w: %w", name, ErrCorrupt, err)
			}
		}
		v.KeyPEM, v.SealedKey, v.keyErr = s.openKey(keyPEM, sealed, certAAD(r.Name, v.Seq))
		c := &Certificate{Name: r.Name, Domains: r.Domains, Active: r.Active, Revision: rev, chainChecked: r.ChainChecked}
		a, err = activePEM(c, &v)
		return a, err == nil, err
	}
	return a, false, nil
}

// minPerDecoder is the fewest records that make parallel start another
// goroutine.
const minPerDecoder = 64

// parallel calls fn(i) for every i in [0, n) on up to GOMAXPROCS goroutines
// (one for fewer than 2*minPerDecoder items) and returns the error of the
// lowest i that failed among those it ran: after a failure the items not
// started yet are skipped.
func parallel(n int, fn func(i int) error) error {
	workers := min(runtime.GOMAXPROCS(0), n/minPerDecoder)
	if workers <= 1 {
		for i := range n {
			if err := fn(i); err != nil {
				return err
			}
		}
		return nil
	}
	errs := make([]error, n)
	var (
		next   atomic.Int64
		failed atomic.Bool
		wg     sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if errs[i] = fn(i); errs[i] != nil {
					failed.Store(true)
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
