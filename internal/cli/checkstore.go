package cli

import (
	"context"
	"crypto/x509"
	"fmt"
	"strings"

	"github.com/certctl/certctl/internal/certpem"
	"github.com/certctl/certctl/store"
)

// How a served certificate compares with the store (the "match" of `certctl
// check`'s JSON). Values are only ever added.
const (
	matchSame        = "same"         // the served certificate is the active version
	matchStoreNewer  = "store_newer"  // the store's active version is newer: the server has not reloaded
	matchServerNewer = "server_newer" // the server's certificate is newer than the store's active version
	matchNotManaged  = "not_managed"  // no certificate in the store is for this name
	matchNoStore     = "no_store"     // the store could not be read (Detail says why)
)

// CheckStoreJSON is how a served certificate compares with the store, part
// of the stable JSON of `certctl check` (README.md).
type CheckStoreJSON struct {
	// Store is where the store is (a path, or an etcd URL without
	// credentials).
	Store string `json:"store"`
	// Match is same, store_newer, server_newer, not_managed or no_store.
	Match string `json:"match"`
	// Name is the store's certificate for the name ("" when none).
	Name string `json:"name,omitempty"`
	// ActiveSerial and ActiveVersion are its active version.
	ActiveSerial  string `json:"active_serial,omitempty"`
	ActiveVersion int    `json:"active_version,omitempty"`
	// ServedVersion is the stored version the server serves, 0 when the
	// served certificate is not among the stored versions.
	ServedVersion int `json:"served_version,omitempty"`
	// Detail says it in words.
	Detail string `json:"detail"`
}

// readStoreForCheck reads every record of the store without creating or
// changing it: a store that does not exist is reported, not made. The
// records come with their location, or nil and why they could not be read.
func (g *globals) readStoreForCheck(ctx context.Context) (certs []*store.Certificate, loc string, err error) {
	u := g.storeURL()
	if u == "" {
		u = store.DefaultPath()
	}
	loc = redactURL(u)
	opts, err := g.storeOptions(u)
	if err != nil {
		return nil, loc, err
	}
	opts.ReadOnly = true
	db, err := store.OpenURL(ctx, u, opts)
	if err != nil {
		return nil, loc, err
	}
	defer closeStore(db, g.logger)
	certs, err = db.List(ctx)
	return certs, db.Location(), err
}

// compareWithStore says how leaf, served for name, compares with certs.
func compareWithStore(certs []*store.Certificate, leaf *x509.Certificate, name string) CheckStoreJSON {
	serial := certpem.SerialHex(leaf)
	var rec *store.Certificate
	var served *store.Version
	for _, c := range certs {
		for i := range c.Versions {
			if c.Versions[i].Serial == serial && (rec == nil || covers(c.Domains, name)) {
				rec, served = c, &c.Versions[i]
			}
		}
	}
	if rec == nil && name != "" {
		for _, c := range certs {
			if covers(c.Domains, name) && (rec == nil || newerActive(c, rec)) {
				rec = c
			}
		}
	}
	if rec == nil {
		if name == "" {
			return CheckStoreJSON{Match: matchNotManaged, Detail: "the served certificate is not in the store"}
		}
		return CheckStoreJSON{Match: matchNotManaged, Detail: "no certificate in the store is for " + name}
	}
	j := CheckStoreJSON{Name: rec.Name}
	active := rec.ActiveVersion()
	if served != nil {
		j.ServedVersion = served.Seq
	}
	if active == nil {
		j.Match = matchServerNewer
		j.Detail = fmt.Sprintf("the store's %s has no active version", rec.Name)
		return j
	}
	j.ActiveSerial, j.ActiveVersion = active.Serial, active.Seq
	switch {
	case active.Serial == serial:
		j.Match = matchSame
		j.Detail = fmt.Sprintf("same serial as the active version of %s (version %d)", rec.Name, active.Seq)
	case !active.NotBefore.Before(leaf.NotBefore) && (served == nil || served.Seq < active.Seq):
		j.Match = matchStoreNewer
		was := "a certificate not in the store"
		if served != nil {
			was = fmt.Sprintf("version %d", served.Seq)
		}
		j.Detail = fmt.Sprintf("the store has a newer version of %s (version %d, serial %s, valid from %s) than the one served (%s): "+
			"the server has not loaded it; reload it, or re-export and reload with: certctl configure %s --deploy",
			rec.Name, active.Seq, active.Serial, fmtTime(active.NotBefore), was, rec.Name)
	default:
		j.Match = matchServerNewer
		what := "a certificate that is not in the store"
		if served != nil {
			what = fmt.Sprintf("version %d, which is newer than the active version %d (rolled back?)", served.Seq, active.Seq)
		}
		j.Detail = fmt.Sprintf("the server serves %s for %s, valid from %s; the store's active version (%d, serial %s) is from %s",
			what, rec.Name, fmtTime(leaf.NotBefore), active.Seq, active.Serial, fmtTime(active.NotBefore))
	}
	return j
}

// newerActive reports whether a's active version started after b's.
func newerActive(a, b *store.Certificate) bool {
	va, vb := a.ActiveVersion(), b.ActiveVersion()
	return va != nil && (vb == nil || va.NotBefore.After(vb.NotBefore))
}

// covers reports whether domains include name, exactly or by a wildcard
// one label deep. Names compare without regard to case.
func covers(domains []string, name string) bool {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if name == "" {
		return false
	}
	for _, d := range domains {
		d = strings.ToLower(d)
		if d == name {
			return true
		}
		if rest, ok := strings.CutPrefix(d, "*."); ok {
			if _, parent, found := strings.Cut(name, "."); found && parent == rest {
				return true
			}
		}
	}
	return false
}
