package desired

import (
	"crypto/sha256"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/certctl/certctl/acme"
	"github.com/certctl/certctl/internal/certpem"
	"github.com/certctl/certctl/renew"
	"github.com/certctl/certctl/store"
)

// MaxFileSize bounds the file Parse and ReadFile accept.
const MaxFileSize = 16 << 20

// maxErrors bounds the problems reported for one file.
const maxErrors = 50

// Default settings of a certificate the file gives no value for: those of
// `certctl issue`, so that a certificate issued by hand and then described
// in a file with the same settings plans as kept.
const (
	DefaultHTTPAddr = ":80"
	DefaultTLSAddr  = ":443"
)

// Spec is a parsed file: the certificates it describes.
type Spec struct {
	// File is the file's name as given.
	File string
	// Hash is the SHA-256 of the file's content.
	Hash [32]byte
	// Certificates are one template per certificate, in file order, with
	// unique names: Name, Domains (normalized), KeyType, ReuseKey,
	// Challenge, Profile, PreferredChain, Hooks and Bindings are set; Directory and
	// Email are left to the caller.
	Certificates []*store.Certificate
}

// ReadFile reads and parses the file at path (see [Parse]).
func ReadFile(path string) (*Spec, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > MaxFileSize {
		return nil, Errors{{File: path, Msg: fmt.Sprintf("larger than %d MiB", MaxFileSize>>20)}}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse reads data, the content of file, as JSON when file ends in .json
// or data starts with '{', and as YAML otherwise. A file with unknown keys
// or bad values returns [Errors] listing each with its line, and no Spec.
func Parse(file string, data []byte) (*Spec, error) {
	if len(data) > MaxFileSize {
		return nil, Errors{{File: file, Msg: fmt.Sprintf("larger than %d MiB", MaxFileSize>>20)}}
	}
	trimmed := strings.TrimSpace(string(data))
	isJSON := strings.EqualFold(filepath.Ext(file), ".json") || strings.HasPrefix(trimmed, "{")
	root, err := parseTree(data, isJSON)
	if err != nil {
		se := err.(*syntaxError)
		format := "YAML"
		if isJSON {
			format = "JSON"
		}
		return nil, Errors{{File: file, Line: se.line, Msg: "not valid " + format + ": " + se.msg}}
	}
	c := &checker{file: file}
	certs := c.spec(root)
	if len(c.errs) > 0 {
		slices.SortStableFunc(c.errs, func(a, b *FieldError) int { return a.Line - b.Line })
		return nil, c.errs
	}
	return &Spec{File: file, Hash: sha256.Sum256(data), Certificates: certs}, nil
}

// checker walks a tree, collecting the problems it finds.
type checker struct {
	file string
	errs Errors
}

func (c *checker) fail(line int, field, format string, args ...any) {
	if len(c.errs) == maxErrors {
		c.errs = append(c.errs, &FieldError{File: c.file, Line: line, Msg: "too many errors; stopping"})
	}
	if len(c.errs) > maxErrors {
		return
	}
	c.errs = append(c.errs, &FieldError{File: c.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// mapping checks n is a mapping with known keys only, each once, and
// returns its values by key.
func (c *checker) mapping(n *node, field string, known ...string) (map[string]*node, bool) {
	if n.kind != kMap {
		c.fail(n.line, field, "want a mapping, got %s", n.kind)
		return nil, false
	}
	out := map[string]*node{}
	seen := map[string]int{}
	for i, k := range n.keys {
		sub := join(field, k.value)
		if l, dup := seen[k.value]; dup {
			c.fail(k.line, sub, "given twice (also at line %d)", l)
			continue
		}
		seen[k.value] = k.line
		if !slices.Contains(known, k.value) {
			c.fail(k.line, sub, "unknown key %q (known: %s)", k.value, strings.Join(known, ", "))
			continue
		}
		out[k.value] = n.vals[i]
	}
	return out, true
}

func join(field, key string) string {
	if field == "" {
		return key
	}
	return field + "." + key
}

func (c *checker) str(n *node, field string) (string, bool) {
	if n.kind != kString {
		c.fail(n.line, field, "want a string, got %s", n.kind)
		return "", false
	}
	return n.value, true
}

func (c *checker) boolean(n *node, field string) bool {
	if n.kind != kBool {
		c.fail(n.line, field, "want true or false, got %s", n.kind)
		return false
	}
	v, _ := strconv.ParseBool(n.value) // true, True, TRUE (YAML) or true (JSON)
	return v
}

func (c *checker) strList(n *node, field string) ([]string, bool) {
	if n.kind != kList {
		c.fail(n.line, field, "want a list of strings, got %s", n.kind)
		return nil, false
	}
	out := make([]string, 0, len(n.items))
	ok := true
	for i, it := range n.items {
		s, good := c.str(it, fmt.Sprintf("%s[%d]", field, i))
		ok = ok && good
		out = append(out, s)
	}
	return out, ok
}

// argv reads a command: a list of words, run without a shell.
func (c *checker) argv(n *node, field string) []string {
	if n.kind == kString {
		c.fail(n.line, field, "want a list of words (no shell), such as [systemctl, reload, nginx], got a string")
		return nil
	}
	argv, ok := c.strList(n, field)
	if !ok {
		return nil
	}
	if err := renew.CheckHook(argv); err != nil {
		c.fail(n.line, field, "%v", err)
		return nil
	}
	return argv
}

func (c *checker) addr(n *node, field string) string {
	s, ok := c.str(n, field)
	if !ok {
		return ""
	}
	if _, port, err := net.SplitHostPort(s); err != nil {
		c.fail(n.line, field, "%q: want HOST:PORT or :PORT", s)
	} else if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		c.fail(n.line, field, "%q: bad port", s)
	}
	return s
}

var (
	topKeys       = []string{"defaults", "certificates"}
	settingKeys   = []string{"challenge", "key-type", "reuse-key", "profile", "preferred-chain", "bindings", "hooks"}
	certKeys      = append([]string{"name", "domains"}, settingKeys...)
	challengeKeys = []string{"type", "http-addr", "tls-addr", "webroot", "dns-provider", "dns-resolvers"}
	bindingKeys   = []string{"export", "pfx", "pfx-password-file", "pfx-password-env", "pfx-legacy", "reload-cmd"}
	hookKeys      = []string{"pre", "deploy", "post", "failure"}
)

// spec checks the whole file and returns its certificates.
func (c *checker) spec(root *node) []*store.Certificate {
	if root.kind == kNull {
		c.fail(root.line, "", "empty file (want a mapping with certificates: [...])")
		return nil
	}
	top, ok := c.mapping(root, "", topKeys...)
	if !ok {
		return nil
	}
	var defaults renew.Settings
	var defaultsChLine int
	if d, ok := top["defaults"]; ok && d.kind != kNull {
		if m, ok := c.mapping(d, "defaults", settingKeys...); ok {
			defaults, defaultsChLine = c.settings(m, "defaults")
		}
	}
	list, ok := top["certificates"]
	if !ok {
		c.fail(root.line, "certificates", "missing (write certificates: [] for none)")
		return nil
	}
	if list.kind != kList {
		c.fail(list.line, "certificates", "want a list, got %s", list.kind)
		return nil
	}
	var out []*store.Certificate
	names := map[string]int{}
	for i, it := range list.items {
		field := fmt.Sprintf("certificates[%d]", i)
		m, ok := c.mapping(it, field, certKeys...)
		if !ok {
			continue
		}
		cert := c.certificate(it, m, field, defaults, defaultsChLine)
		if cert == nil {
			continue
		}
		line := it.line
		if n, ok := m["name"]; ok {
			line = n.line
		}
		if first, dup := names[cert.Name]; dup {
			c.fail(line, field+".name", "duplicate certificate name %q (first at line %d)", cert.Name, first)
			continue
		}
		names[cert.Name] = line
		out = append(out, cert)
	}
	return out
}

// settings reads the settings a certificate and the defaults share; it
// returns the line of the challenge block (0 without one).
func (c *checker) settings(m map[string]*node, field string) (renew.Settings, int) {
	var st renew.Settings
	chLine := 0
	if n, ok := m["challenge"]; ok {
		chLine = n.line
		st.Challenge = c.challenge(n, join(field, "challenge"))
	}
	if n, ok := m["key-type"]; ok {
		if s, ok := c.str(n, join(field, "key-type")); ok {
			if kt, err := acme.ParseKeyType(s); err != nil || s == "" {
				c.fail(n.line, join(field, "key-type"), "bad key type %q (want ec256, ec384, rsa2048 or rsa4096)", s)
			} else {
				st.KeyType = string(kt)
			}
		}
	}
	if n, ok := m["reuse-key"]; ok {
		if b, err := strconv.ParseBool(n.value); n.kind != kBool || err != nil {
			c.fail(n.line, join(field, "reuse-key"), "want true or false, got %s", n.kind)
		} else {
			st.ReuseKey = &b
		}
	}
	for _, k := range []struct {
		key string
		dst *string
	}{{"profile", &st.Profile}, {"preferred-chain", &st.PreferredChain}} {
		if n, ok := m[k.key]; ok {
			if s, ok := c.str(n, join(field, k.key)); ok {
				if strings.ContainsAny(s, "\x00\r\n") {
					c.fail(n.line, join(field, k.key), "control characters not allowed")
				}
				*k.dst = s
			}
		}
	}
	if n, ok := m["bindings"]; ok {
		st.Bindings = c.bindings(n, join(field, "bindings"))
	}
	if n, ok := m["hooks"]; ok {
		st.Hooks = c.hooks(n, join(field, "hooks"))
	}
	return st, chLine
}

func (c *checker) challenge(n *node, field string) *store.Challenge {
	m, ok := c.mapping(n, field, challengeKeys...)
	if !ok {
		return nil
	}
	ch := &store.Challenge{}
	if v, ok := m["type"]; ok {
		if s, ok := c.str(v, join(field, "type")); ok {
			switch s {
			case acme.HTTP01, acme.DNS01, acme.TLSALPN01:
				ch.Type = s
			default:
				c.fail(v.line, join(field, "type"), "unknown challenge %q (want http-01, dns-01 or tls-alpn-01)", s)
			}
		}
	}
	if v, ok := m["http-addr"]; ok {
		ch.HTTPAddr = c.addr(v, join(field, "http-addr"))
	}
	if v, ok := m["tls-addr"]; ok {
		ch.TLSAddr = c.addr(v, join(field, "tls-addr"))
	}
	if v, ok := m["webroot"]; ok {
		if s, ok := c.str(v, join(field, "webroot")); ok {
			if s == "" {
				c.fail(v.line, join(field, "webroot"), "empty")
			}
			ch.Webroot = s
		}
	}
	if v, ok := m["dns-provider"]; ok {
		ch.DNSProvider, _ = c.str(v, join(field, "dns-provider"))
	}
	if v, ok := m["dns-resolvers"]; ok {
		if v.kind != kList {
			c.fail(v.line, join(field, "dns-resolvers"), "want a list of HOST:PORT, got %s", v.kind)
		} else {
			for i, it := range v.items {
				ch.DNSResolvers = append(ch.DNSResolvers, c.addr(it, fmt.Sprintf("%s.dns-resolvers[%d]", field, i)))
			}
		}
	}
	return ch
}

func (c *checker) bindings(n *node, field string) []store.FileBinding {
	if n.kind != kList {
		c.fail(n.line, field, "want a list of bindings, got %s", n.kind)
		return nil
	}
	out := []store.FileBinding{}
	for i, it := range n.items {
		f := fmt.Sprintf("%s[%d]", field, i)
		m, ok := c.mapping(it, f, bindingKeys...)
		if !ok {
			continue
		}
		var b store.FileBinding
		for _, k := range []struct {
			key string
			dst *string
		}{{"export", &b.Dir}, {"pfx", &b.PFX}, {"pfx-password-file", &b.PFXPasswordFile}, {"pfx-password-env", &b.PFXPasswordEnv}} {
			if v, ok := m[k.key]; ok {
				*k.dst, _ = c.str(v, join(f, k.key))
			}
		}
		if v, ok := m["pfx-legacy"]; ok {
			b.PFXLegacy = c.boolean(v, join(f, "pfx-legacy"))
		}
		if v, ok := m["reload-cmd"]; ok {
			b.ReloadCmd = c.argv(v, join(f, "reload-cmd"))
		}
		switch {
		case b.Dir == "" && b.PFX == "" && len(b.ReloadCmd) == 0:
			c.fail(it.line, f, "a binding needs export, pfx or reload-cmd")
		case (b.PFXPasswordFile != "" || b.PFXPasswordEnv != "" || b.PFXLegacy) && b.PFX == "":
			c.fail(it.line, f, "pfx-password-file, pfx-password-env and pfx-legacy need pfx")
		case b.PFXPasswordFile != "" && b.PFXPasswordEnv != "":
			c.fail(it.line, f, "give pfx-password-file or pfx-password-env, not both")
		}
		out = append(out, b)
	}
	return out
}

func (c *checker) hooks(n *node, field string) store.Hooks {
	var h store.Hooks
	m, ok := c.mapping(n, field, hookKeys...)
	if !ok {
		return h
	}
	for _, k := range []struct {
		key string
		dst *[]string
	}{{"pre", &h.Pre}, {"deploy", &h.Deploy}, {"post", &h.Post}, {"failure", &h.Failure}} {
		if v, ok := m[k.key]; ok {
			*k.dst = c.argv(v, join(field, k.key))
		}
	}
	return h
}

// certificate checks one entry and merges defaults into it: the defaults'
// settings first, then the entry's, by [renew.Settings.Apply].
func (c *checker) certificate(it *node, m map[string]*node, field string, defaults renew.Settings, defaultsChLine int) *store.Certificate {
	before := len(c.errs)
	var domains []string
	dn, ok := m["domains"]
	if !ok {
		c.fail(it.line, join(field, "domains"), "missing")
	} else if dn.kind != kList {
		c.fail(dn.line, join(field, "domains"), "want a list of names, got %s", dn.kind)
	} else if len(dn.items) == 0 {
		c.fail(dn.line, join(field, "domains"), "empty")
	} else {
		for i, d := range dn.items {
			f := fmt.Sprintf("%s.domains[%d]", field, i)
			s, ok := c.str(d, f)
			if !ok {
				continue
			}
			if _, err := acme.NormalizeDomains([]string{s}); err != nil {
				c.fail(d.line, f, "%v", err)
				continue
			}
			domains = append(domains, s)
		}
		if len(c.errs) == before {
			var err error
			if domains, err = acme.NormalizeDomains(domains); err != nil {
				c.fail(dn.line, join(field, "domains"), "%v", err)
			}
		}
	}
	st, chLine := c.settings(m, field)
	if len(c.errs) > before {
		return nil
	}
	cert := &store.Certificate{}
	defaults.Apply(cert)
	st.Apply(cert)
	if chLine == 0 {
		chLine = defaultsChLine
	}
	if chLine == 0 {
		chLine = it.line
	}
	ch := &cert.Challenge
	if ch.Type == "" {
		ch.Type = acme.HTTP01
		if ch.DNSProvider != "" {
			ch.Type = acme.DNS01
		}
	}
	if ch.HTTPAddr == "" {
		ch.HTTPAddr = DefaultHTTPAddr
	}
	if ch.TLSAddr == "" {
		ch.TLSAddr = DefaultTLSAddr
	}
	if cert.KeyType == "" {
		cert.KeyType = string(acme.EC256)
	}
	if ch.Webroot != "" && ch.Type != acme.HTTP01 {
		c.fail(chLine, join(field, "challenge.webroot"), "works only with the http-01 challenge")
	}
	if err := acme.CheckChallenge(acme.Challenge{Type: ch.Type, DNSProvider: ch.DNSProvider}, domains); err != nil {
		c.fail(chLine, join(field, "challenge"), "%v", err)
	}
	name := acme.DefaultName(domains)
	if n, ok := m["name"]; ok {
		if s, ok := c.str(n, join(field, "name")); ok {
			name = s
			if err := certpem.CheckName(s); err != nil {
				c.fail(n.line, join(field, "name"), "%v", err)
			}
		}
	}
	if len(c.errs) > before {
		return nil
	}
	cert.Name, cert.Domains = name, domains
	return cert
}
