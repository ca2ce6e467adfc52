package desired_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	_ "github.com/certctl/certctl/acme/dnsproviders"
	"github.com/certctl/certctl/internal/desired"
	"github.com/certctl/certctl/store"
)

const goodYAML = `defaults:
  challenge:
    type: http-01
    http-addr: 127.0.0.1:5002
  key-type: ec384
  hooks:
    deploy: [systemctl, reload, nginx]
    post: [logger, renewed]
  bindings:
    - export: /etc/ssl/certctl
certificates:
  - domains: [Example.COM, www.example.com]
  - name: api
    domains: [api.example.com]
    key-type: rsa2048
    profile: shortlived
    hooks:
      deploy: [/usr/local/bin/restart-api]
    bindings: []
  - domains: ["*.example.org"]
    challenge:
      type: dns-01
      dns-provider: exec
      dns-resolvers: ["127.0.0.1:53"]
`

func TestParse_YAMLMergesDefaultsBySettingsRule(t *testing.T) {
	t.Setenv("EXEC_PATH", "/bin/true") // the exec DNS provider's credentials
	s, err := desired.Parse("certs.yaml", []byte(goodYAML))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Certificates) != 3 {
		t.Fatalf("%d certificates", len(s.Certificates))
	}
	a, b, c := s.Certificates[0], s.Certificates[1], s.Certificates[2]
	if a.Name != "example.com" || !slices.Equal(a.Domains, []string{"example.com", "www.example.com"}) || a.KeyType != "ec384" ||
		a.Challenge.HTTPAddr != "127.0.0.1:5002" || a.Challenge.TLSAddr != ":443" || len(a.Bindings) != 1 ||
		!slices.Equal(a.Hooks.Deploy, []string{"systemctl", "reload", "nginx"}) {
		t.Fatalf("first: %+v", a)
	}
	// Hooks are replaced kind by kind; an empty bindings list removes the defaults'.
	if b.Name != "api" || b.KeyType != "rsa2048" || b.Profile != "shortlived" || len(b.Bindings) != 0 ||
		!slices.Equal(b.Hooks.Deploy, []string{"/usr/local/bin/restart-api"}) || !slices.Equal(b.Hooks.Post, []string{"logger", "renewed"}) {
		t.Fatalf("second: %+v", b)
	}
	// A certificate's challenge block replaces the defaults' as a whole.
	if c.Name != "_.example.org" || c.Challenge.Type != "dns-01" || c.Challenge.HTTPAddr != ":80" || c.Challenge.DNSProvider != "exec" {
		t.Fatalf("third: %+v", c)
	}
}

func TestParse_JSONEqualsYAML(t *testing.T) {
	js := `{
  "defaults": {"key-type": "ec384", "challenge": {"http-addr": "127.0.0.1:5002"}},
  "certificates": [
    {"domains": ["a.example"]},
    {"name": "b", "domains": ["b.example"], "hooks": {"deploy": ["true"]}}
  ]
}`
	s, err := desired.Parse("certs.json", []byte(js))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Certificates) != 2 || s.Certificates[0].KeyType != "ec384" || s.Certificates[1].Name != "b" ||
		s.Certificates[0].Challenge.HTTPAddr != "127.0.0.1:5002" {
		t.Fatalf("%+v", s.Certificates)
	}
}

// pfx-legacy is read from YAML (true, True) and JSON into the binding, and
// is off when absent or false.
func TestParse_PFXLegacy(t *testing.T) {
	for _, tc := range []struct {
		file, data string
		want       []bool
	}{
		{"c.yaml", "certificates:\n  - domains: [a.example]\n    bindings:\n      - pfx: C:\\iis\\a.pfx\n        pfx-legacy: true\n" +
			"      - pfx: b.pfx\n        pfx-legacy: True\n      - pfx: c.pfx\n        pfx-legacy: false\n      - pfx: d.pfx\n",
			[]bool{true, true, false, false}},
		{"c.json", `{"certificates": [{"domains": ["a.example"], "bindings": [{"pfx": "a.pfx", "pfx-legacy": true}, {"pfx": "b.pfx", "pfx-legacy": false}]}]}`,
			[]bool{true, false}},
	} {
		s, err := desired.Parse(tc.file, []byte(tc.data))
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		var got []bool
		for _, b := range s.Certificates[0].Bindings {
			got = append(got, b.PFXLegacy)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: pfx-legacy %v, want %v", tc.file, got, tc.want)
		}
	}
}

func TestParse_ErrorsCarryFileLineAndField(t *testing.T) {
	for _, tc := range []struct {
		name, file, data string
		want             []string // each a substring of one error, in order
	}{
		{"unknown key", "c.yaml", "certificates:\n  - domains: [a.example]\n    key_type: ec256\n",
			[]string{`c.yaml:3: certificates[0].key_type: unknown key "key_type"`}},
		{"bad key type", "c.yaml", "defaults:\n  key-type: ec999\ncertificates: []\n",
			[]string{`c.yaml:2: defaults.key-type: bad key type "ec999"`}},
		{"bad domain", "c.yaml", "certificates:\n  - domains:\n      - a.example\n      - 'bad domain!'\n",
			[]string{`c.yaml:4: certificates[0].domains[1]:`}},
		{"duplicate name", "c.yaml", "certificates:\n  - domains: [a.example]\n  - name: a.example\n    domains: [b.example]\n",
			[]string{`c.yaml:3: certificates[1].name: duplicate certificate name "a.example" (first at line 2)`}},
		{"wrong type", "c.yaml", "certificates:\n  - domains: a.example\n    hooks:\n      deploy: systemctl reload nginx\n",
			[]string{`c.yaml:2: certificates[0].domains: want a list of names, got a string`,
				`c.yaml:4: certificates[0].hooks.deploy: want a list of words`}},
		{"several at once", "c.yaml", "defaults:\n  profile: 7\ncertificates:\n  - domains: [a.example]\n    challenge: {type: http-02}\n  - {}\n",
			[]string{`c.yaml:2: defaults.profile: want a string, got a number`, `c.yaml:5: certificates[0].challenge.type: unknown challenge "http-02"`,
				`c.yaml:6: certificates[1].domains: missing`}},
		{"wildcard needs dns", "c.yaml", "certificates:\n  - domains: ['*.a.example']\n",
			[]string{`c.yaml:2: certificates[0].challenge:`}},
		{"missing certificates", "c.yaml", "defaults: {}\n", []string{`c.yaml:1: certificates: missing`}},
		{"duplicate key", "c.yaml", "certificates: []\ncertificates: []\n", []string{`c.yaml:2: certificates: given twice (also at line 1)`}},
		{"yaml syntax", "c.yaml", "certificates:\n  - domains: [a\n", []string{`c.yaml:`, `not valid YAML`}},
		{"json unknown key", "c.json", "{\n  \"certificates\": [\n    {\"domains\": [\"a.example\"],\n     \"keytype\": \"ec256\"}\n  ]\n}\n",
			[]string{`c.json:4: certificates[0].keytype: unknown key "keytype"`}},
		{"json bad key type", "c.json", "{\"certificates\": [\n {\"domains\": [\"a.example\"],\n\t\"key-type\": \"dsa\"}]}",
			[]string{`c.json:3: certificates[0].key-type: bad key type "dsa"`}},
		{"json wrong type", "c.json", "{\"certificates\": {\n}}", []string{`c.json:1: certificates: want a list, got a mapping`}},
		{"json syntax", "c.json", "{\"certificates\": [\n,]}", []string{`c.json:2: not valid JSON`}},
		{"bad binding", "c.yaml", "certificates:\n  - domains: [a.example]\n    bindings:\n      - pfx-password-env: X\n",
			[]string{`c.yaml:4: certificates[0].bindings[0]: a binding needs export, pfx or reload-cmd`}},
		{"pfx-legacy not a boolean", "c.yaml", "certificates:\n  - domains: [a.example]\n    bindings:\n      - pfx: a.pfx\n        pfx-legacy: 'yes'\n",
			[]string{`c.yaml:5: certificates[0].bindings[0].pfx-legacy: want true or false, got a string`}},
		{"pfx-legacy without pfx", "c.yaml", "certificates:\n  - domains: [a.example]\n    bindings:\n      - export: /srv\n        pfx-legacy: true\n",
			[]string{`c.yaml:4: certificates[0].bindings[0]: pfx-password-file, pfx-password-env and pfx-legacy need pfx`}},
		{"bad address", "c.yaml", "defaults:\n  challenge:\n    http-addr: localhost\ncertificates: []\n",
			[]string{`c.yaml:3: defaults.challenge.http-addr: "localhost": want HOST:PORT`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := desired.Parse(tc.file, []byte(tc.data))
			if s != nil || !errors.Is(err, desired.ErrInvalid) {
				t.Fatalf("Parse = %v, %v; want ErrInvalid", s, err)
			}
			var es desired.Errors
			if !errors.As(err, &es) {
				t.Fatalf("%T", err)
			}
			if len(es) != len(tc.want) && !strings.Contains(tc.name, "syntax") {
				t.Fatalf("%d errors, want %d:\n%v", len(es), len(tc.want), err)
			}
			for i, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %d: %q not in\n%v", i, w, err)
				}
			}
		})
	}
}

func cert(name string, domains ...string) *store.Certificate {
	return &store.Certificate{Name: name, Domains: domains, KeyType: "ec256",
		Challenge: store.Challenge{Type: "http-01", HTTPAddr: ":80", TLSAddr: ":443"}}
}

func active(c *store.Certificate) *store.Certificate {
	c = c.Clone()
	c.Versions = []store.Version{{Seq: 1, Serial: "01"}}
	c.Active = 1
	return c
}

func TestMakePlan_Actions(t *testing.T) {
	keep := cert("keep", "keep.example")
	upd := cert("upd", "upd.example")
	updHave := active(upd)
	updHave.KeyType = "rsa2048"
	re := cert("re", "re.example", "new.re.example")
	reHave := active(cert("re", "re.example"))
	order := cert("order", "b.example", "a.example") // same set, other order: an update, no new order
	orderHave := active(cert("order", "a.example", "b.example"))
	failedFirst := cert("failed", "failed.example")
	have := []*store.Certificate{active(keep), updHave, reHave, orderHave, failedFirst, active(cert("zz", "zz.example")), active(cert("gone", "gone.example"))}
	want := []*store.Certificate{cert("new", "new.example"), keep, upd, re, order, failedFirst}
	got := map[string]desired.Step{}
	var names []string
	for _, s := range desired.MakePlan(want, have, true) {
		got[s.Name] = s
		names = append(names, s.Name)
	}
	if !slices.Equal(names, []string{"new", "keep", "upd", "re", "order", "failed", "gone", "zz"}) {
		t.Fatalf("order %v", names)
	}
	for n, a := range map[string]desired.Action{"new": desired.Create, "keep": desired.Keep, "upd": desired.Update, "re": desired.Reorder,
		"order": desired.Update, "failed": desired.Create, "gone": desired.Remove, "zz": desired.Remove} {
		if got[n].Action != a {
			t.Errorf("%s: %s, want %s (%v)", n, got[n].Action, a, got[n].Changes)
		}
	}
	if c := got["upd"].Changes; !slices.Equal(c, []string{"key-type: rsa2048 -> ec256"}) {
		t.Errorf("upd changes %q", c)
	}
	if p := desired.MakePlan(want, have, false); len(p) != len(want) {
		t.Errorf("without prune: %d steps", len(p))
	}
}
