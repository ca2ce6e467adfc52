package store

import (
	"bytes"
	"crypto/sha256"

	"github.com/certctl/certctl/internal/certpem"
)

// A record carries a chain check mark (JSON "chain_checked", never set by
// callers: [Certificate] has no exported field for it): the SHA-256 of the
// active version's fullchain PEM, set by Put only after Put itself found
// that chain signed link by link (see chainSigned). LoadActive reports
// [ActivePEM.ChainVerified] when the mark matches the fullchain it returns,
// so a binder loading thousands of certificates at start can skip the
// signature checks it would repeat (the bulk of its load time) and keep
// the cheap ones: key against leaf, validity dates, names.
//
// The mark adds no trust in the store beyond what the binder already
// gives it: a writer able to forge a mark can as well store a lone
// self-signed leaf, which the binder serves without any chain check. What
// the mark guards against is a stale claim: it binds the exact bytes that
// were checked, so a record changed by anything that did not check them
// again (an older certctl drops the unknown field when it writes a record
// back; an edited PEM no longer hashes to it) is checked in full again.

// chainSum is the digest a chain check mark holds for fullchain.
func chainSum(fullchain []byte) []byte {
	s := sha256.Sum256(fullchain)
	return s[:]
}

// chainMark returns the chain check mark to store with c: c's own mark
// when it still matches its active fullchain (a record read back and
// written again is not checked again), a new one when the active chain
// passes chainSigned, otherwise nil.
func chainMark(c *Certificate) []byte {
	v := c.ActiveVersion()
	if v == nil {
		return nil
	}
	full := v.Fullchain()
	sum := chainSum(full)
	if bytes.Equal(c.chainChecked, sum) {
		return c.chainChecked
	}
	if !chainSigned(full) {
		return nil
	}
	return sum
}

// markMatches reports whether c's chain check mark is the digest of
// fullchain.
func markMatches(c *Certificate, fullchain []byte) bool {
	return c.chainChecked != nil && bytes.Equal(c.chainChecked, chainSum(fullchain))
}

// chainSigned reports whether the CERTIFICATE blocks of fullchain (other
// blocks skipped, as crypto/tls does) are at least two certificates, each
// signed by the next, the last of which is not a self-signed root. This is
// the check a binder without configured roots makes of such a chain; a
// chain ending in a self-signed root is left unmarked (the binder verifies
// it in full, path constraints included).
func chainSigned(fullchain []byte) bool {
	chain, err := certpem.ParseChain(fullchain)
	if err != nil {
		return false
	}
	if len(chain) < 2 {
		return false
	}
	last := chain[len(chain)-1]
	if bytes.Equal(last.RawIssuer, last.RawSubject) && last.CheckSignatureFrom(last) == nil {
		return false
	}
	for i := 0; i+1 < len(chain); i++ {
		if chain[i].CheckSignatureFrom(chain[i+1]) != nil {
			return false
		}
	}
	return true
}
