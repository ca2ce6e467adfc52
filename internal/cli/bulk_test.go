package cli_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certctl/certctl/internal/acmetest"
	"github.com/certctl/certctl/internal/cli"
)

// apply --max-concurrent-orders 1 with 6 workers has one order in flight at
// the CA at a time, and still creates every certificate; --timings adds
// each one's timings to the JSON results. Bad values of the bulk flags are
// usage errors on apply, renew and daemon.
func TestApply_MaxConcurrentOrdersAndTimings(t *testing.T) {
	h := newHarness(t, acmetest.Options{})
	dir := t.TempDir()
	file := filepath.Join(dir, "certs.yaml")
	writeFile(t, file, h.applyFile(filepath.Join(dir, "export"), "ec256",
		"a=a.example", "b=b.example", "c=c.example", "d=d.example", "e=e.example", "f=f.example"))
	h.srv.ResetOrdersInFlight()
	out := h.mustRun("apply", "-f", file, "--agree-tos", "--workers", "6", "--max-concurrent-orders", "1", "--timings", "-o", "json")
	var a struct {
		Results []struct {
			Name    string
			Action  string
			Timings *struct {
				Validation float64 `json:"validation_seconds"`
				Total      float64 `json:"total_seconds"`
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &a); err != nil || len(a.Results) != 6 {
		t.Fatalf("apply JSON: %v\n%s", err, out)
	}
	for _, r := range a.Results {
		if r.Action != "issued" || r.Timings == nil || r.Timings.Validation <= 0 || r.Timings.Total <= 0 {
			t.Fatalf("%s: %s, timings %+v\n%s", r.Name, r.Action, r.Timings, out)
		}
		h.verifyExport(filepath.Join(dir, "export", r.Name), r.Name+".example")
	}
	if now, peak := h.srv.OrdersInFlight(); peak != 1 || now != 0 {
		t.Fatalf("the CA saw %d orders in flight at most (%d now), want 1 (0)", peak, now)
	}
	if out := h.mustRun("apply", "-f", file, "--timings"); !strings.Contains(out, "0 created") || !strings.Contains(out, "wall") {
		t.Fatalf("apply --timings of a kept file:\n%s", out)
	}
	for _, cmd := range [][]string{{"apply", "-f", file}, {"renew"}, {"daemon"}} {
		for _, bad := range [][]string{{"--max-concurrent-orders", "-1"}, {"--max-concurrent-orders", "1001"}, {"--max-orders-per-second", "-1"}} {
			if code, _, errs := h.run(append(cmd, bad...)...); code != cli.ExitUsage {
				t.Fatalf("%s %s: exit %d, %s", cmd[0], bad, code, errs)
			}
		}
	}
}
