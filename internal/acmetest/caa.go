package acmetest

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/letsencrypt/challtestsrv"
	"github.com/letsencrypt/pebble/v2/acme"
	"github.com/letsencrypt/pebble/v2/core"
)

// problemCAA is the ACME problem type of a CAA refusal (RFC 8555 section 6.7).
const problemCAA = "urn:ietf:params:acme:error:caa"

// checkCAA fails a challenge that Pebble validated when the CAA records of
// its identifier (RFC 8659) do not allow CAAIdentity to issue, as a
// production CA does: Pebble's validation authority checks no CAA records.
// It runs after Pebble's validation is over, so nothing else writes the
// challenge, its authorization or its order any more.
func (h *handler) checkCAA(chal *core.Challenge) {
	chal.RLock()
	authz, valid := chal.Authz, chal.Status == acme.StatusValid
	chal.RUnlock()
	if !valid || authz == nil {
		return
	}
	authz.RLock()
	ident, wildcard, order := authz.Identifier, authz.Wildcard, authz.Order
	authz.RUnlock()
	if ident.Type != acme.IdentifierDNS {
		return
	}
	owner, records := h.s.dns.relevantCAA(strings.TrimPrefix(ident.Value, "*."))
	if caaAllows(records, wildcard, CAAIdentity) {
		return
	}
	texts := make([]string, len(records))
	for i, r := range records {
		texts[i] = fmt.Sprintf("0 %s %q", r.Tag, r.Value)
	}
	prob := &acme.ProblemDetails{
		Type:       problemCAA,
		Detail:     fmt.Sprintf("CAA records of %s (%s) do not allow %s to issue for %s", owner, strings.Join(texts, ", "), CAAIdentity, ident.Value),
		HTTPStatus: http.StatusForbidden,
	}
	// The lock order of Pebble's validation authority: authorization, then
	// challenge; the order alone.
	authz.Lock()
	chal.Lock()
	authz.Status = acme.StatusInvalid
	chal.Status = acme.StatusInvalid
	chal.Error = prob
	chal.Unlock()
	authz.Unlock()
	if order != nil {
		order.Lock()
		order.Error = prob
		order.Unlock()
	}
	h.s.logger.Info("acmetest: CAA forbids issuance", "identifier", ident.Value, "owner", owner)
}

// relevantCAA returns the CAA records that govern name (RFC 8659 section
// 3): those of name or of its closest parent that has any, with the name
// that holds them; none when no name up to the top-level domain has any.
func (d *sharedDNS) relevantCAA(name string) (string, []challtestsrv.CAAPolicy) {
	name = strings.TrimSuffix(name, ".")
	for n := name; n != ""; {
		if rs := d.caa(n); len(rs) > 0 {
			return n, rs
		}
		_, parent, ok := strings.Cut(n, ".")
		if !ok {
			break
		}
		n = parent
	}
	return "", nil
}

// caaAllows reports whether records let the CA known as identity issue: for
// a wildcard the "issuewild" records when there are any, else the "issue"
// records; no such records allow every CA.
func caaAllows(records []challtestsrv.CAAPolicy, wildcard bool, identity string) bool {
	tag := "issue"
	if wildcard && hasTag(records, "issuewild") {
		tag = "issuewild"
	}
	if !hasTag(records, tag) {
		return true
	}
	for _, r := range records {
		if !strings.EqualFold(r.Tag, tag) {
			continue
		}
		issuer, _, _ := strings.Cut(r.Value, ";")
		if strings.EqualFold(strings.TrimSpace(issuer), identity) {
			return true
		}
	}
	return false
}

func hasTag(records []challtestsrv.CAAPolicy, tag string) bool {
	for _, r := range records {
		if strings.EqualFold(r.Tag, tag) {
			return true
		}
	}
	return false
}
