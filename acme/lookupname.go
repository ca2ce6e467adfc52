package acme

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// LookupName is certctl's own look at name before any validation (what
// `certctl doctor` checks): its A and AAAA records at resolvers, and this
// host's addresses, so that [Lookup.Here] tells whether the CA would reach
// this host. listen is the responder's address (":80", "127.0.0.1:5002";
// "" for every address of this host). The look is bounded by ctx and by
// the same timeouts as the look after a failed validation.
func LookupName(ctx context.Context, resolvers []string, name, listen string) *Lookup {
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	l := &Lookup{Resolvers: slices.Clone(resolvers), Listen: listenAddr(listen), Host: hostAddrs()}
	l.Addrs, l.Err = lookupAddrs(ctx, resolvers, name)
	return l
}

// LookupCAA looks up the CAA records that govern name (its own, or its
// closest parent's that has any, RFC 8659) at resolvers, into CAAName, CAA
// and Err of a [Lookup]. The caller adds the CA's CAAIdentities (its
// directory's "caaIdentities") to ask [Lookup.AllowsCA].
func LookupCAA(ctx context.Context, resolvers []string, name string) *Lookup {
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	l := &Lookup{Resolvers: slices.Clone(resolvers)}
	l.CAAName, l.CAA, l.Err = lookupCAA(ctx, resolvers, strings.TrimPrefix(name, "*."))
	return l
}

// AllowsCA reports whether the CAA records of l allow a CA known by one of
// l.CAAIdentities to issue, for a wildcard name when wildcard is set (its
// "issuewild" records, else its "issue" records), as RFC 8659 section 4
// says: no records of the tag allow every CA; a record with an unknown tag
// marked critical allows none. known is false when the records restrict
// issuance but the CA named no identities to compare them with.
func (l *Lookup) AllowsCA(wildcard bool) (allowed, known bool) {
	var issue, issuewild []string
	for _, rec := range l.CAA {
		var flag int
		var tag, value string
		if _, err := fmt.Sscanf(rec, "%d %s %q", &flag, &tag, &value); err != nil {
			continue
		}
		switch strings.ToLower(tag) {
		case "issue":
			issue = append(issue, value)
		case "issuewild":
			issuewild = append(issuewild, value)
		case "iodef", "issuemail", "issuevmc":
		default:
			if flag&128 != 0 {
				return false, true
			}
		}
	}
	values := issue
	if wildcard && len(issuewild) > 0 {
		values = issuewild
	}
	if len(values) == 0 {
		return true, true
	}
	if len(l.CAAIdentities) == 0 {
		return false, false
	}
	for _, v := range values {
		domain, _, _ := strings.Cut(v, ";")
		domain = strings.TrimSpace(domain)
		for _, id := range l.CAAIdentities {
			if domain != "" && strings.EqualFold(domain, id) {
				return true, true
			}
		}
	}
	return false, true
}
