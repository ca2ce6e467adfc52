package cli_test

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/certctl/certctl/internal/acmetest"
)

// failureCase is one way a first `certctl issue` fails, as a user meets it.
type failureCase struct {
	name  string
	opts  acmetest.Options
	setup func(t *testing.T, h *harness) []string // extra arguments of issue
	kind  string                                  // the JSON error_kind
	hint  string                                  // in the hint and in the table line
	code  int                                     // the exit code
	also  string                                  // also in the line, if set
}

// selfComm is this process's name as the system reports it.
func selfComm() string {
	b, _ := os.ReadFile("/proc/self/comm")
	return strings.TrimSpace(string(b))
}

// Each failure is reported once: one FAILED line on stdout with a hint that
// names the fix and the certificate's name said once, the same kind and hint
// in JSON, a summary as the only line on stderr, and the documented exit
// code.
func TestCLI_Issue_FailuresExplained(t *testing.T) {
	const eabKID = "kid-1"
	cases := []failureCase{
		{name: "port held by another program", kind: "port_busy", hint: "stop that program", code: 1,
			setup: func(t *testing.T, h *harness) []string {
				// A plain listener of this test process, which is not
				// certctl: issue fails at once and names it.
				ln, err := net.Listen("tcp", h.httpAddr())
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = ln.Close() })
				return []string{"--http-addr", h.httpAddr(), "--agree-tos"}
			},
			also: "is in use by " + selfComm()},
		{name: "connection refused", kind: "validation_connection", hint: "could not connect to fail.example", code: 1,
			setup: func(t *testing.T, h *harness) []string {
				// The responder listens elsewhere: nothing answers on the
				// port the CA dials.
				return []string{"--http-addr", "127.0.0.1:0", "--agree-tos"}
			}},
		{name: "webroot not served", kind: "validation_token", hint: "/.well-known/acme-challenge/", code: 1,
			setup: func(t *testing.T, h *harness) []string {
				served, written := t.TempDir(), t.TempDir()
				ln, err := net.Listen("tcp", h.httpAddr())
				if err != nil {
					t.Fatal(err)
				}
				srv := &http.Server{Handler: http.FileServer(http.Dir(served))}
				go func() { _ = srv.Serve(ln) }()
				t.Cleanup(func() { _ = srv.Close() })
				return []string{"--webroot", written, "--agree-tos"}
			}},
		{name: "rate limited", kind: "rate_limited", hint: "accepts a new attempt after", code: 1,
			setup: func(t *testing.T, h *harness) []string {
				h.srv.FailNewOrders(2, http.StatusTooManyRequests, 3*time.Hour) // table, then JSON
				return []string{"--http-addr", h.httpAddr(), "--agree-tos"}
			}},
		{name: "terms not agreed", kind: "no_account", hint: "--agree-tos", code: 2,
			setup: func(t *testing.T, h *harness) []string { return []string{"--http-addr", h.httpAddr()} }},
		{name: "EAB required", kind: "eab_required", hint: "--eab-kid and --eab-hmac", code: 1,
			opts:  acmetest.Options{RequireEAB: true, EABKeys: map[string]string{eabKID: "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"}},
			setup: func(t *testing.T, h *harness) []string { return []string{"--http-addr", h.httpAddr(), "--agree-tos"} }},
		{name: "CA unreachable", kind: "ca_unreachable", hint: "outbound HTTPS to the CA", code: 1,
			setup: func(t *testing.T, h *harness) []string {
				return []string{"--directory", "https://127.0.0.1:1/dir", "--http-addr", h.httpAddr(), "--agree-tos"}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.opts)
			args := append([]string{"issue", "-d", "fail.example"}, tc.setup(t, h)...)
			start := time.Now()
			code, out, errs := h.run(args...)
			took := time.Since(start)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out, errs)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "FAILED   fail.example: ") || !strings.Contains(lines[0], tc.hint) {
				t.Fatalf("stdout is not one FAILED line with %q:\n%s", tc.hint, out)
			}
			if !strings.Contains(lines[0], tc.also) {
				t.Errorf("the line does not say %q: %s", tc.also, lines[0])
			}
			if n := strings.Count(lines[0], "fail.example: "); n != 1 {
				t.Errorf("the name is said %d times as a prefix: %s", n, lines[0])
			}
			if strings.TrimSpace(errs) != "certctl: issue failed (reported above)" {
				t.Errorf("stderr is not the summary alone: %q", errs)
			}
			code, out, _ = h.run(append(args, "--output", "json")...)
			var rs []struct {
				Name, Action, Error, Hint string
				Kind                      string `json:"error_kind"`
			}
			if err := json.Unmarshal([]byte(out), &rs); err != nil || len(rs) != 1 {
				t.Fatalf("JSON: %v\n%s", err, out)
			}
			r := rs[0]
			if code != tc.code || r.Action != "failed" || r.Kind != tc.kind || !strings.Contains(r.Hint, tc.hint) || r.Error == "" {
				t.Fatalf("JSON result %+v (exit %d), want kind %s", r, code, tc.kind)
			}
			t.Logf("%s: %s in %v", tc.kind, lines[0], took.Round(time.Millisecond))
		})
	}
}
