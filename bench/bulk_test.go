package bench

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certctl/certctl/internal/acmetest"
)

// bulkNames is the number of certificates of the bulk benchmarks, the
// figure of issue 12.
const bulkNames = 50

// bulkEnv is a certctl binary, an in-process Pebble and a store holding an
// account, for benchmarks that run certctl as separate processes.
type bulkEnv struct {
	b      *testing.B
	bin    string
	srv    *acmetest.Server
	store  string
	caFile string
}

var buildCertctl = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "certctl-bench-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "certctl")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/certctl").CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v: %s", err, out)
	}
	return bin, nil
})

// latencies are the CA validation latencies the bulk benchmarks run at:
// none (Pebble answers at once, so the work is CPU-bound on this machine)
// and a second, about what a public CA takes and what issue 12's figures
// show (a certificate waits about a second on the CA).
var latencies = []time.Duration{0, time.Second}

func newBulkEnv(b *testing.B, latency time.Duration) *bulkEnv {
	b.Helper()
	bin, err := buildCertctl()
	if err != nil {
		b.Fatal(err)
	}
	srv := acmetest.StartT(b, acmetest.Options{ValidationLatency: latency})
	dir := b.TempDir()
	e := &bulkEnv{b: b, bin: bin, srv: srv, store: filepath.Join(dir, "certctl.db"), caFile: filepath.Join(dir, "ca.pem")}
	if err := os.WriteFile(e.caFile, srv.ServerCAPEM(), 0o600); err != nil {
		b.Fatal(err)
	}
	e.run("issue", "-d", "account.example", "--http-addr", e.httpAddr(), "--agree-tos") // the account
	return e
}

func (e *bulkEnv) httpAddr() string { return "127.0.0.1:" + strconv.Itoa(e.srv.HTTPPort()) }

// run runs certctl with args, failing the benchmark if it fails, and
// returns its standard error (its log at info level).
func (e *bulkEnv) run(args ...string) string {
	_, stderr := e.runOut(args...)
	return stderr
}

// runOut runs certctl with args, failing the benchmark if it fails, and
// returns its standard output and standard error.
func (e *bulkEnv) runOut(args ...string) (stdout, stderr string) {
	cmd := exec.Command(e.bin, append([]string{"--log-level", "info", "--store", e.store, "--directory", e.srv.DirectoryURL(),
		"--ca-cert", e.caFile, "--email", "ops@example.com", "--resolver", e.srv.DNSAddr()}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		e.b.Fatalf("certctl %v: %v\n%s%s", args, err, out.String(), errb.String())
	}
	return out.String(), errb.String()
}

// issueAll issues names with one `certctl issue` process each, procs at a
// time (as `xargs -P procs` would), and returns the wall time and how many
// processes published their tokens for another's responder (delegated) or
// fell back to waiting for the port after trying (fallbacks).
func (e *bulkEnv) issueAll(names []string, procs int) (wall time.Duration, delegated, fallbacks int) {
	start := time.Now()
	var mu sync.Mutex
	sem := make(chan struct{}, procs)
	var wg sync.WaitGroup
	for _, n := range names {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			log := e.run("issue", "-d", n, "--http-addr", e.httpAddr())
			mu.Lock()
			defer mu.Unlock()
			if strings.Contains(log, "published http-01 token") {
				delegated++
			}
			if strings.Contains(log, "waiting for the port") {
				fallbacks++
			}
		}()
	}
	wg.Wait()
	return time.Since(start), delegated, fallbacks
}

func bulkNamesOf(prefix string) []string {
	names := make([]string, bulkNames)
	for i := range names {
		names[i] = fmt.Sprintf("%s-%d.example", prefix, i)
	}
	return names
}

// BenchmarkOverlappingProcesses (at each of latencies) issues 50 new certificates with one
// `certctl issue` process each, 8 processes at a time over one HTTP-01 port
// (the processes that find the port held publish their tokens for its
// holder to answer), and compares the wall time with one `certctl renew
// --all --force --workers 8` process renewing 50 certificates, in the same
// run: ratio = processes / renew (issue 12's goal: <= 1.5).
func BenchmarkOverlappingProcesses(b *testing.B) {
	for _, lat := range latencies {
		b.Run("latency="+lat.String(), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				e := newBulkEnv(b, lat)
				b.StartTimer()
				procs, delegated, fallbacks := e.issueAll(bulkNamesOf(fmt.Sprintf("p%d", i)), 8)
				// The 50 certificates exist now (plus the account's): renew them all.
				start := time.Now()
				e.run("renew", "--all", "--force", "--workers", "8")
				renew := time.Since(start)
				b.ReportMetric(procs.Seconds(), "procs-s")
				b.ReportMetric(renew.Seconds(), "renew8-s")
				b.ReportMetric(procs.Seconds()/renew.Seconds(), "ratio")
				b.ReportMetric(float64(delegated), "delegated")
				b.ReportMetric(float64(fallbacks), "fallbacks")
			}
		})
	}
}

// BenchmarkRenewWorkers (at each of latencies) renews 51 certificates with `certctl renew --all
// --force` at 4, 8, 16 and 32 workers, one process each, reporting the wall
// time per run and certificates per second: the basis of the default
// worker count.
func BenchmarkRenewWorkers(b *testing.B) {
	for _, lat := range latencies {
		e := newBulkEnv(b, lat)
		e.issueAll(bulkNamesOf("w"), 8)
		for _, w := range []int{4, 8, 16, 32} {
			b.Run(fmt.Sprintf("latency=%s/workers=%d", lat, w), func(b *testing.B) {
				e.b = b
				for i := 0; i < b.N; i++ {
					start := time.Now()
					e.run("renew", "--all", "--force", "--workers", strconv.Itoa(w))
					d := time.Since(start)
					b.ReportMetric(d.Seconds(), "wall-s")
					b.ReportMetric(float64(bulkNames+1)/d.Seconds(), "certs/s")
				}
			})
		}
	}
}
