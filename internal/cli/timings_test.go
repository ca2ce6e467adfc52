package cli_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/certctl/certctl/internal/acmetest"
	"github.com/certctl/certctl/internal/cli"
)

// --timings reports every step of an order against Pebble: each step the
// order went through took some time, the steps add up to no more than the
// total, and the text output has a row per certificate and the wall time.
func TestTimings_IssueAndRenew(t *testing.T) {
	h := newHarness(t, acmetest.Options{})
	out := h.mustRun("issue", "-d", "t1.example", "--http-addr", h.httpAddr(), "--agree-tos", "--timings")
	if !strings.Contains(out, "ISSUED") || !strings.Contains(out, "VALIDATION") ||
		!strings.Contains(out, "t1.example  ") || !strings.Contains(out, "wall") {
		t.Fatalf("issue --timings:\n%s", out)
	}
	if out := h.mustRun("issue", "-d", "t2.example", "--http-addr", h.httpAddr()); strings.Contains(out, "TIMINGS") {
		t.Fatalf("timings printed without --timings:\n%s", out)
	}
	out = h.mustRun("renew", "--all", "--force", "--timings", "-o", "json")
	var rs []struct {
		Name    string
		Action  string
		Timings *struct {
			Hooks      float64 `json:"hooks_seconds"`
			Account    float64 `json:"account_seconds"`
			Order      float64 `json:"order_seconds"`
			Validation float64 `json:"validation_seconds"`
			Finalize   float64 `json:"finalize_seconds"`
			Store      float64 `json:"store_seconds"`
			Deploy     float64 `json:"deploy_seconds"`
			Total      float64 `json:"total_seconds"`
		}
	}
	if err := json.Unmarshal([]byte(out), &rs); err != nil || len(rs) != 2 {
		t.Fatalf("renew JSON: %v\n%s", err, out)
	}
	for _, r := range rs {
		tm := r.Timings
		if r.Action != "renewed" || tm == nil {
			t.Fatalf("%s: %s, timings %v\n%s", r.Name, r.Action, tm, out)
		}
		for step, v := range map[string]float64{"account": tm.Account, "order": tm.Order, "validation": tm.Validation,
			"finalize": tm.Finalize, "store": tm.Store} {
			if v <= 0 {
				t.Errorf("%s: %s step took %v\n%s", r.Name, step, v, out)
			}
		}
		if sum := tm.Hooks + tm.Account + tm.Order + tm.Validation + tm.Finalize + tm.Store + tm.Deploy; sum > tm.Total*1.0001 {
			t.Errorf("%s: steps add up to %v, more than the total %v", r.Name, sum, tm.Total)
		}
	}
	if out := h.mustRun("renew", "--all", "--force", "-o", "json", "--max-orders-per-second", "50"); strings.Contains(out, "timings") {
		t.Fatalf("JSON has timings without --timings:\n%s", out)
	}
	for _, bad := range []string{"-1", "NaN", "1e9"} {
		for _, cmd := range []string{"renew", "daemon"} {
			if code, _, errs := h.run(cmd, "--max-orders-per-second", bad); code != cli.ExitUsage {
				t.Fatalf("%s --max-orders-per-second %s: exit %d, %s", cmd, bad, code, errs)
			}
		}
	}
}
