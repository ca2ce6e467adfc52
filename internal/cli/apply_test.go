package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/certctl/certctl/acme"
	"github.com/certctl/certctl/internal/acmetest"
	"github.com/certctl/certctl/internal/cli"
)

// countingTransport counts the requests made to the CA.
type countingTransport struct {
	n    atomic.Int64
	next http.RoundTripper
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

// runCounting runs certctl with a CA client that counts its requests.
func (h *harness) runCounting(args ...string) (code int, stdout, stderr string, requests int64) {
	h.t.Helper()
	hc, err := acme.NewHTTPClient(h.srv.ServerCAPEM())
	if err != nil {
		h.t.Fatal(err)
	}
	ct := &countingTransport{next: hc.Transport}
	hc.Transport = ct
	var out, errb bytes.Buffer
	code = cli.Run(context.Background(), &cli.Deps{Stdout: &out, Stderr: &errb, HTTPClient: hc}, append(h.globals(), args...))
	return code, out.String(), errb.String(), ct.n.Load()
}

// applyOut is the JSON output of apply.
type applyOut struct {
	File   string `json:"file"`
	DryRun bool   `json:"dry_run"`
	Plan   []struct {
		Name    string   `json:"name"`
		Action  string   `json:"action"`
		Domains []string `json:"domains"`
		Changes []string `json:"changes"`
	} `json:"plan"`
	Results []struct {
		Name       string `json:"name"`
		Action     string `json:"action"`
		Serial     string `json:"serial"`
		PrevSerial string `json:"previous_serial"`
		Error      string `json:"error"`
	} `json:"results"`
}

func decodeApply(t *testing.T, out string) applyOut {
	t.Helper()
	var a applyOut
	dec := json.NewDecoder(strings.NewReader(out))
	if err := dec.Decode(&a); err != nil {
		t.Fatalf("apply JSON: %v\n%s", err, out)
	}
	return a
}

func (a applyOut) actions() map[string]string {
	m := map[string]string{}
	for _, s := range a.Plan {
		m[s.Name] = s.Action
	}
	return m
}

func (a applyOut) results() map[string]string {
	m := map[string]string{}
	for _, r := range a.Results {
		m[r.Name] = r.Action
		if r.Error != "" {
			m[r.Name] += ": " + r.Error
		}
	}
	return m
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// applyFile is a certificates file with one certificate per entry of certs
// ("name=domain,domain"), answering http-01 on the harness's port.
func (h *harness) applyFile(exportDir, keyType string, certs ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "defaults:\n  challenge:\n    http-addr: %q\n  key-type: %s\n  bindings:\n    - export: %q\ncertificates:\n",
		h.httpAddr(), keyType, exportDir)
	for _, c := range certs {
		name, domains, _ := strings.Cut(c, "=")
		fmt.Fprintf(&b, "  - name: %s\n    domains: [%s]\n", name, domains)
	}
	return b.String()
}

func TestApply_PlanCreateUpdateReorderKeepPrune(t *testing.T) {
	h := newHarness(t, acmetest.Options{})
	dir := t.TempDir()
	exp := filepath.Join(dir, "export")
	file := filepath.Join(dir, "certs.yaml")
	writeFile(t, file, h.applyFile(exp, "ec256", "a=a.example", "b=b.example", "c=c.example"))

	// First apply: everything is created, in parallel, and exported.
	first := decodeApply(t, h.mustRun("apply", "-f", file, "--agree-tos", "-o", "json"))
	if want := map[string]string{"a": "create", "b": "create", "c": "create"}; !maps.Equal(first.actions(), want) {
		t.Fatalf("plan %v", first.actions())
	}
	if want := map[string]string{"a": "issued", "b": "issued", "c": "issued"}; !maps.Equal(first.results(), want) {
		t.Fatalf("results %v", first.results())
	}
	h.verifyExport(filepath.Join(exp, "b"), "b.example")
	before := h.list()

	// Second apply of the same file: all kept, and the CA is not contacted.
	code, out, errs, n := h.runCounting("apply", "-f", file, "-o", "json")
	if code != 0 {
		t.Fatalf("second apply: exit %d: %s %s", code, out, errs)
	}
	if n != 0 {
		t.Fatalf("second apply made %d requests to the CA", n)
	}
	if want := map[string]string{"a": "kept", "b": "kept", "c": "kept"}; !maps.Equal(decodeApply(t, out).results(), want) {
		t.Fatalf("second apply results %v", decodeApply(t, out).results())
	}

	// Change the file: a's key type (update), b's names (re-order), c
	// dropped (pruned), d new (create).
	writeFile(t, file, strings.Replace(h.applyFile(exp, "ec256", "b=b.example,www.b.example", "c=c.example", "d=d.example"),
		"certificates:\n", "certificates:\n  - name: a\n    domains: [a.example]\n    key-type: rsa2048\n", 1))
	writeFile(t, file, strings.Replace(readString(t, file), "  - name: c\n    domains: [c.example]\n", "", 1))
	plan := decodeApply(t, h.mustRun("apply", "-f", file, "--prune", "--dry-run", "-o", "json"))
	if want := map[string]string{"a": "update", "b": "reorder", "c": "remove", "d": "create"}; !maps.Equal(plan.actions(), want) {
		t.Fatalf("plan %v", plan.actions())
	}
	code, out, errs, n = h.runCounting("apply", "-f", file, "--prune", "-o", "json")
	if code != 0 {
		t.Fatalf("apply: exit %d: %s %s", code, out, errs)
	}
	res := decodeApply(t, out)
	if want := map[string]string{"a": "updated", "b": "renewed", "c": "removed", "d": "issued"}; !maps.Equal(res.results(), want) {
		t.Fatalf("results %v", res.results())
	}
	if n == 0 {
		t.Fatal("no CA requests for a re-order and a create")
	}
	after := h.list()
	if _, ok := after["c"]; ok {
		t.Fatal("c not pruned")
	}
	if after["a"].Serial != before["a"].Serial || after["a"].KeyType != "rsa2048" {
		t.Fatalf("a: serial %s -> %s, key type %s", before["a"].Serial, after["a"].Serial, after["a"].KeyType)
	}
	if after["b"].Serial == before["b"].Serial || !slices.Equal(after["b"].Domains, []string{"b.example", "www.b.example"}) {
		t.Fatalf("b not re-ordered: %+v", after["b"])
	}
	h.verifyExport(filepath.Join(exp, "b"), "b.example", "www.b.example")
	h.verifyExport(filepath.Join(exp, "d"), "d.example")
	if _, err := os.Stat(filepath.Join(exp, "c", "cert.pem")); err != nil {
		t.Fatalf("pruning deleted c's exported files: %v", err)
	}

	// And once more: nothing to do, nothing asked of the CA.
	code, out, _, n = h.runCounting("apply", "-f", file, "--prune")
	if code != 0 || n != 0 || !strings.Contains(out, "3 certificates: 0 created, 0 updated, 0 re-ordered, 3 kept, 0 removed, 0 failed") {
		t.Fatalf("third apply: exit %d, %d CA requests:\n%s", code, n, out)
	}
}

func readString(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestApply_DryRunChangesNothing(t *testing.T) {
	h := newHarness(t, acmetest.Options{})
	h.mustRun("issue", "-d", "old.example", "--http-addr", h.httpAddr(), "--agree-tos")
	dir := t.TempDir()
	file := filepath.Join(dir, "certs.yaml")
	writeFile(t, file, h.applyFile(filepath.Join(dir, "export"), "ec384", "new=new.example"))
	storeSum := sum(t, h.store)
	code, out, errs, n := h.runCounting("apply", "-f", file, "--prune", "--dry-run")
	if code != 0 {
		t.Fatalf("dry run: exit %d: %s %s", code, out, errs)
	}
	for _, w := range []string{"ACTION", "create", "new.example", "remove", "old.example",
		"plan: 1 to create, 0 to update, 0 to re-order, 0 to keep, 1 to remove (dry run: nothing changed)"} {
		if !strings.Contains(out, w) {
			t.Errorf("%q not in the plan:\n%s", w, out)
		}
	}
	if n != 0 || sum(t, h.store) != storeSum {
		t.Fatalf("dry run made %d CA requests or changed the store", n)
	}
	if _, err := os.Stat(filepath.Join(dir, "export")); !os.IsNotExist(err) {
		t.Fatalf("dry run exported files: %v", err)
	}
}

func TestApply_PlanJSONSchema(t *testing.T) {
	h := newHarness(t, acmetest.Options{})
	dir := t.TempDir()
	file := filepath.Join(dir, "certs.json")
	writeFile(t, file, fmt.Sprintf(`{"defaults": {"challenge": {"http-addr": %q}},
 "certificates": [{"name": "j", "domains": ["j.example", "www.j.example"], "profile": ""}]}`, h.httpAddr()))
	out := h.mustRun("apply", "-f", file, "--dry-run", "-o", "json")
	var raw map[string]any
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatal(err)
	}
	if keys := slices.Sorted(maps.Keys(raw)); !slices.Equal(keys, []string{"dry_run", "file", "plan"}) {
		t.Fatalf("top-level keys %v", keys)
	}
	step := raw["plan"].([]any)[0].(map[string]any)
	if keys := slices.Sorted(maps.Keys(step)); !slices.Equal(keys, []string{"action", "domains", "name"}) {
		t.Fatalf("step keys %v", keys)
	}
	a := decodeApply(t, out)
	if !a.DryRun || a.File != file || a.Plan[0].Name != "j" || a.Plan[0].Action != "create" ||
		!slices.Equal(a.Plan[0].Domains, []string{"j.example", "www.j.example"}) {
		t.Fatalf("%+v", a)
	}
}

func TestApply_FileErrorsNameLineAndApplyNothing(t *testing.T) {
	h := newHarness(t, acmetest.Options{})
	h.mustRun("issue", "-d", "kept.example", "--http-addr", h.httpAddr(), "--agree-tos")
	storeSum := sum(t, h.store)
	dir := t.TempDir()
	ok := fmt.Sprintf("  - domains: [fine.example]\n    challenge: {http-addr: %q}\n", h.httpAddr())
	for _, tc := range []struct {
		name, file, data string
		want             []string
	}{
		{"unknown key", "a.yaml", "certificates:\n" + ok + "  - domains: [x.example]\n    keytype: ec256\n",
			[]string{`a.yaml:5: certificates[1].keytype: unknown key "keytype"`}},
		{"bad key type", "b.yaml", "certificates:\n" + ok + "  - domains: [x.example]\n    key-type: dsa1024\n",
			[]string{`b.yaml:5: certificates[1].key-type: bad key type "dsa1024"`}},
		{"bad domain", "c.yaml", "certificates:\n" + ok + "  - domains: [x.example, 'http://y.example/']\n",
			[]string{`c.yaml:4: certificates[1].domains[1]: "http://y.example/": invalid domain name`}},
		{"duplicate name", "d.yaml", "certificates:\n" + ok + "  - name: fine.example\n    domains: [x.example]\n",
			[]string{`d.yaml:4: certificates[1].name: duplicate certificate name "fine.example" (first at line 2)`}},
		{"wrong type", "e.yaml", "certificates:\n" + ok + "  - domains: [x.example]\n    bindings: {export: /tmp}\n",
			[]string{`e.yaml:5: certificates[1].bindings: want a list of bindings, got a mapping`}},
		{"json several", "f.json", "{\"certificates\": [\n  {\"domains\": [\"x.example\"], \"key-type\": 256},\n  {\"domains\": [], \"extra\": 1}\n]}",
			[]string{`f.json:2: certificates[0].key-type: want a string, got a number`, `f.json:3: certificates[1].extra: unknown key "extra"`,
				`f.json:3: certificates[1].domains: empty`, `f.json: 3 problems (listed above); nothing applied`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(dir, tc.file)
			writeFile(t, file, tc.data)
			code, out, errs, n := h.runCounting("apply", "-f", file, "--prune")
			if code != cli.ExitUsage || out != "" || n != 0 {
				t.Fatalf("exit %d, %d CA requests, stdout %q", code, n, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(errs, filepath.Join(dir, w)) && !strings.Contains(errs, w) {
					t.Errorf("%q not in:\n%s", w, errs)
				}
			}
			if sum(t, h.store) != storeSum {
				t.Fatal("the store changed")
			}
		})
	}
	if l := h.list(); len(l) != 1 || l["kept.example"].Serial == "" {
		t.Fatalf("store after bad files: %v", l)
	}
}
