package cli_test

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certctl/certctl/internal/acmetest"
)

// failureCase is one way a first `certctl issue` fails, as a user meets it.
type failureCase struct {
	name   string
	domain string // the name to issue for; "" means fail.example
	opts   acmetest.Options
	// setup prepares the failure and returns the extra arguments of issue
	// and texts the line must contain besides hint.
	setup func(t *testing.T, h *harness, domain string) (args, also []string)
	kind  string // the JSON error_kind
	hint  string // in the hint and in the table line
	code  int    // the exit code
	// serial keeps the case out of the parallel ones (it sets the
	// environment).
	serial bool
}

// selfComm is this process's name as the system reports it.
func selfComm() string {
	b, _ := os.ReadFile("/proc/self/comm")
	return strings.TrimSpace(string(b))
}

// records sets DNS records for a name of one case and clears them after.
func records(t *testing.T, h *harness, name string, set func()) {
	t.Cleanup(func() { h.srv.ClearRecords(name) })
	set()
}

// holdConns accepts connections on addr and never answers them, as a
// firewall that drops packets makes a client wait.
func holdConns(t *testing.T, addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			_ = c.Close()
		}
	})
}

// Each failure is reported once: one FAILED line on stdout with a hint that
// names the fix and the certificate's name said once, the same kind and hint
// in JSON, a summary as the only line on stderr, and the documented exit
// code. The table and the JSON runs go concurrently, each with its own
// store, so a case where the CA must time out waits once.
func TestCLI_Issue_FailuresExplained(t *testing.T) {
	const eabKID = "kid-1"
	httpOnly := func(t *testing.T, h *harness, _ string) ([]string, []string) {
		return []string{"--http-addr", h.httpAddr(), "--agree-tos"}, nil
	}
	cases := []failureCase{
		{name: "port held by another program", kind: "port_busy", hint: "stop that program", code: 1,
			setup: func(t *testing.T, h *harness, _ string) ([]string, []string) {
				// A plain listener of this test process, which is not
				// certctl: issue fails at once and names it.
				ln, err := net.Listen("tcp", h.httpAddr())
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = ln.Close() })
				return []string{"--http-addr", h.httpAddr(), "--agree-tos"}, []string{"is in use by " + selfComm()}
			}},
		{name: "connection refused", kind: "validation_connection", hint: "could not connect to fail.example", code: 1,
			setup: func(t *testing.T, h *harness, _ string) ([]string, []string) {
				// The responder listens elsewhere: nothing answers on the
				// port the CA dials.
				return []string{"--http-addr", "127.0.0.1:0", "--agree-tos"}, nil
			}},
		{name: "connection dropped", kind: "validation_connection", hint: "port 80 timed out", code: 1,
			setup: func(t *testing.T, h *harness, _ string) ([]string, []string) {
				// Something takes the CA's connection and never answers;
				// the CA gives up after its own timeout (15 s in Pebble).
				holdConns(t, h.httpAddr())
				return []string{"--http-addr", "127.0.0.1:0", "--agree-tos"}, []string{"firewall", "forward"}
			}},
		{name: "name resolves elsewhere", domain: "elsewhere.example", kind: "validation_address", code: 1,
			hint: "elsewhere.example resolves to ::1 but the responder listens on 127.0.0.1 (this host: ",
			setup: func(t *testing.T, h *harness, d string) ([]string, []string) {
				// Only an AAAA record, ::1: the CA dials [::1]:PORT
				// (refused, or unreachable without IPv6) while the
				// responder listens on 127.0.0.1:PORT.
				records(t, h, d, func() { h.srv.SetAddrs(d, netip.IPv6Loopback()) })
				args, _ := httpOnly(t, h, d)
				return args, []string{"point its A/AAAA records here", "forward port 80"}
			}},
		{name: "name does not resolve", domain: "nowhere.example", kind: "validation_dns",
			hint: "nowhere.example does not resolve (no A or AAAA record)", code: 1,
			setup: func(t *testing.T, h *harness, d string) ([]string, []string) {
				records(t, h, d, func() { h.srv.SetAddrs(d) })
				return httpOnly(t, h, d)
			}},
		{name: "CAA forbids the CA", domain: "caa.example", kind: "validation_caa", code: 1,
			hint: `the CAA records of caa.example (0 issue "other-ca.example") do not allow this CA`,
			setup: func(t *testing.T, h *harness, d string) ([]string, []string) {
				records(t, h, d, func() { h.srv.SetCAA(d, "issue", "other-ca.example") })
				args, _ := httpOnly(t, h, d)
				return args, []string{`add 0 issue "` + acmetest.CAAIdentity + `"`}
			}},
		{name: "webroot not served", kind: "validation_token", hint: "and did not get the token certctl wrote to", code: 1,
			setup: func(t *testing.T, h *harness, d string) ([]string, []string) {
				served, written := t.TempDir(), t.TempDir()
				ln, err := net.Listen("tcp", h.httpAddr())
				if err != nil {
					t.Fatal(err)
				}
				srv := &http.Server{Handler: http.FileServer(http.Dir(served))}
				go func() { _ = srv.Serve(ln) }()
				t.Cleanup(func() { _ = srv.Close() })
				return []string{"--webroot", written, "--agree-tos"},
					[]string{filepath.Join(written, ".well-known", "acme-challenge") + "/", "http://" + d + "/.well-known/acme-challenge/"}
			}},
		{name: "DNS-01 record not propagated", domain: "prop.example", kind: "dns_propagation", code: 1, serial: true,
			hint: "the TXT record _acme-challenge.prop.example was not seen at 127.0.0.1:",
			setup: func(t *testing.T, h *harness, d string) ([]string, []string) {
				// lego's httpreq provider reports success and nothing is
				// published: lego's check at the resolver named gives up
				// after the provider's propagation timeout.
				ep := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
				t.Cleanup(ep.Close)
				t.Setenv("HTTPREQ_ENDPOINT", ep.URL)
				t.Setenv("HTTPREQ_POLLING_INTERVAL", "1")
				t.Setenv("HTTPREQ_PROPAGATION_TIMEOUT", "1")
				return []string{"--dns", "httpreq", "--dns-resolver", h.srv.DNSAddr(), "--agree-tos"},
					[]string{h.srv.DNSAddr() + " within 1s", "credentials"}
			}},
		{name: "rate limited", kind: "rate_limited", hint: "accepts a new attempt after", code: 1,
			setup: func(t *testing.T, h *harness, d string) ([]string, []string) {
				h.srv.FailNewOrders(2, http.StatusTooManyRequests, 3*time.Hour) // table and JSON
				return httpOnly(t, h, d)
			}},
		{name: "terms not agreed", kind: "no_account", hint: "--agree-tos", code: 2,
			setup: func(t *testing.T, h *harness, _ string) ([]string, []string) {
				return []string{"--http-addr", h.httpAddr()}, nil
			}},
		{name: "EAB required", kind: "eab_required", hint: "--eab-kid and --eab-hmac", code: 1,
			opts:  acmetest.Options{RequireEAB: true, EABKeys: map[string]string{eabKID: "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"}},
			setup: httpOnly},
		{name: "CA unreachable", kind: "ca_unreachable", hint: "outbound HTTPS to the CA", code: 1,
			setup: func(t *testing.T, h *harness, _ string) ([]string, []string) {
				return []string{"--directory", "https://127.0.0.1:1/dir", "--http-addr", h.httpAddr(), "--agree-tos"}, nil
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.serial {
				t.Parallel()
			}
			d := tc.domain
			if d == "" {
				d = "fail.example"
			}
			h := newHarness(t, tc.opts)
			extra, also := tc.setup(t, h, d)
			args := append([]string{"issue", "-d", d}, extra...)
			hj := *h // the JSON run's own store
			hj.store = filepath.Join(t.TempDir(), "json.db")
			type result struct {
				code      int
				out, errs string
				took      time.Duration
			}
			var table, js result
			var wg sync.WaitGroup
			for _, r := range []struct {
				res  *result
				h    *harness
				args []string
			}{{&table, h, args}, {&js, &hj, append(args[:len(args):len(args)], "--output", "json")}} {
				wg.Go(func() {
					start := time.Now()
					r.res.code, r.res.out, r.res.errs = r.h.run(r.args...)
					r.res.took = time.Since(start)
				})
			}
			wg.Wait()

			if table.code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", table.code, tc.code, table.out, table.errs)
			}
			lines := strings.Split(strings.TrimSpace(table.out), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "FAILED   "+d+": ") || !strings.Contains(lines[0], tc.hint) {
				t.Fatalf("stdout is not one FAILED line with %q:\n%s", tc.hint, table.out)
			}
			for _, a := range also {
				if !strings.Contains(lines[0], a) {
					t.Errorf("the line does not say %q: %s", a, lines[0])
				}
			}
			if n := strings.Count(lines[0], d+": "); n != 1 {
				t.Errorf("the name is said %d times as a prefix: %s", n, lines[0])
			}
			if strings.TrimSpace(table.errs) != "certctl: issue failed (reported above)" {
				t.Errorf("stderr is not the summary alone: %q", table.errs)
			}
			var rs []struct {
				Name, Action, Error, Hint string
				Kind                      string `json:"error_kind"`
			}
			if err := json.Unmarshal([]byte(js.out), &rs); err != nil || len(rs) != 1 {
				t.Fatalf("JSON: %v\n%s\nstderr: %s", err, js.out, js.errs)
			}
			r := rs[0]
			if js.code != tc.code || r.Action != "failed" || r.Kind != tc.kind || !strings.Contains(r.Hint, tc.hint) || r.Error == "" {
				t.Fatalf("JSON result %+v (exit %d), want kind %s", r, js.code, tc.kind)
			}
			t.Logf("%s: %s (table %v, JSON %v)", tc.kind, lines[0], table.took.Round(time.Millisecond), js.took.Round(time.Millisecond))
		})
	}
}
