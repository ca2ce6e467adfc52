package desired

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/certctl/certctl/store"
)

// Action is what a [Step] does to one certificate.
type Action string

// The actions of a plan.
const (
	// Create orders a certificate the store does not hold (or holds with
	// no active version).
	Create Action = "create"
	// Update stores new settings; the certificate is kept (settings such
	// as the key type take effect at its next order).
	Update Action = "update"
	// Reorder orders a new certificate because the set of names changed.
	Reorder Action = "reorder"
	// Keep changes nothing and contacts no CA.
	Keep Action = "keep"
	// Remove deletes a stored certificate the file does not list (only
	// when pruning).
	Remove Action = "remove"
)

// Step is the plan for one certificate.
type Step struct {
	Name   string
	Action Action
	// Changes say what differs, one item per setting ("key-type: ec256 ->
	// ec384"); empty for Keep and Create.
	Changes []string
	// Want is the certificate as the file describes it (nil for Remove).
	Want *store.Certificate
	// Have is the stored record (nil for Create of a new name).
	Have *store.Certificate
}

// MakePlan compares want (the file's certificates, with Directory and Email
// set by the caller) with have (every stored certificate) and returns the
// steps that make the store match: want's certificates in want's order,
// then, when prune, a Remove for each stored certificate want does not
// name, by name.
func MakePlan(want, have []*store.Certificate, prune bool) []Step {
	byName := make(map[string]*store.Certificate, len(have))
	for _, c := range have {
		byName[c.Name] = c
	}
	steps := make([]Step, 0, len(want))
	wanted := make(map[string]bool, len(want))
	for _, w := range want {
		wanted[w.Name] = true
		h := byName[w.Name]
		st := Step{Name: w.Name, Want: w, Have: h}
		switch {
		case h == nil:
			st.Action = Create
		default:
			st.Changes = diff(h, w)
			switch {
			case h.ActiveVersion() == nil:
				st.Action = Create
			case !sameSet(h.Domains, w.Domains):
				st.Action = Reorder
			case len(st.Changes) > 0:
				st.Action = Update
			default:
				st.Action = Keep
			}
		}
		steps = append(steps, st)
	}
	if prune {
		var gone []string
		for _, h := range have {
			if !wanted[h.Name] {
				gone = append(gone, h.Name)
			}
		}
		slices.Sort(gone)
		for _, n := range gone {
			steps = append(steps, Step{Name: n, Action: Remove, Have: byName[n]})
		}
	}
	return steps
}

func sameSet(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

// HooksOrBindingsDiffer reports whether have's hooks or file bindings differ
// from want's, nil and empty alike.
func HooksOrBindingsDiffer(have, want *store.Certificate) bool {
	return !sameHooks(have.Hooks, want.Hooks) || !sameBindings(have.Bindings, want.Bindings)
}

func sameHooks(a, b store.Hooks) bool {
	return slices.Equal(a.Pre, b.Pre) && slices.Equal(a.Deploy, b.Deploy) && slices.Equal(a.Post, b.Post) &&
		slices.Equal(a.Failure, b.Failure)
}

func sameBindings(a, b []store.FileBinding) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return reflect.DeepEqual(a, b)
}

func sameChallenge(a, b store.Challenge) bool {
	return a.Type == b.Type && a.HTTPAddr == b.HTTPAddr && a.TLSAddr == b.TLSAddr && a.Webroot == b.Webroot &&
		a.DNSProvider == b.DNSProvider && slices.Equal(a.DNSResolvers, b.DNSResolvers)
}

// diff lists the settings in which the stored h differs from w.
func diff(h, w *store.Certificate) []string {
	var out []string
	change := func(what, from, to string) {
		if from != to {
			out = append(out, fmt.Sprintf("%s: %s -> %s", what, orNone(from), orNone(to)))
		}
	}
	change("domains", strings.Join(h.Domains, ","), strings.Join(w.Domains, ","))
	change("key-type", h.KeyType, w.KeyType)
	change("reuse-key", strconv.FormatBool(h.ReuseKey), strconv.FormatBool(w.ReuseKey))
	if !sameChallenge(h.Challenge, w.Challenge) {
		out = append(out, fmt.Sprintf("challenge: %s -> %s", challengeText(h.Challenge), challengeText(w.Challenge)))
	}
	change("profile", h.Profile, w.Profile)
	change("preferred-chain", h.PreferredChain, w.PreferredChain)
	change("directory", h.Directory, w.Directory)
	change("email", h.Email, w.Email)
	if !sameHooks(h.Hooks, w.Hooks) {
		out = append(out, "hooks")
	}
	if !sameBindings(h.Bindings, w.Bindings) {
		out = append(out, fmt.Sprintf("bindings: %d -> %d", len(h.Bindings), len(w.Bindings)))
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func challengeText(c store.Challenge) string {
	s := c.Type
	switch {
	case c.Webroot != "":
		s += " webroot " + c.Webroot
	case c.DNSProvider != "":
		s += " " + c.DNSProvider
	case c.Type == "tls-alpn-01":
		s += " " + c.TLSAddr
	default:
		s += " " + c.HTTPAddr
	}
	return s
}
