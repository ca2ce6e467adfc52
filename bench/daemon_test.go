package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkDaemonStart starts the real `certctl daemon` on bbolt stores of
// 1,000, 10,000 and 100,000 certificates (none due) and reports, per start:
//
//   - ready-s: from exec to the log line of its first finished scan
//     (`scan done`, when /healthz turns ok);
//   - rss-kB, anon-kB, hwm-kB: VmRSS, RssAnon and VmHWM of /proc/PID/status
//     then. RssAnon is the daemon's own memory; VmRSS adds the pages of the
//     store file it mapped (bbolt reads through mmap; the kernel may drop
//     them at any time);
//   - scraped-anon-kB, scraped-rss-kB: the same after one GET /metrics,
//     which reads every record for the per-certificate series and keeps
//     what the series need until the store changes.
//
// run.sh prints the growth per certificate between the stores of 1,000 and
// 10,000 certificates (issue 12: under 10 KiB). Linux only (/proc).
func BenchmarkDaemonStart(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Skip("reads /proc/PID/status")
	}
	bin, err := buildCertctl()
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		n    int
	}{{"1k", 1_000}, {"10k", loadCerts}, {"100k", bigCerts}} {
		b.Run(bc.name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "certctl.db")
			buildCopy(b, cachedStoreN(b, bc.n), path)
			var sum daemonFigures
			for b.Loop() {
				f := startDaemon(b, bin, path)
				sum.add(f)
			}
			sum.report(b)
		})
	}
}

// daemonFigures are the measures of one daemon start (or their sum).
type daemonFigures struct {
	ready                         time.Duration
	rss, anon, hwm                int64 // kB
	scrapedRSS, scrapedAnon, runs int64
}

func (f *daemonFigures) add(g daemonFigures) {
	f.ready += g.ready
	f.rss += g.rss
	f.anon += g.anon
	f.hwm += g.hwm
	f.scrapedRSS += g.scrapedRSS
	f.scrapedAnon += g.scrapedAnon
	f.runs++
}

// report reports the means of the runs summed in f.
func (f *daemonFigures) report(b *testing.B) {
	if f.runs == 0 {
		return
	}
	n := float64(f.runs)
	b.ReportMetric(f.ready.Seconds()/n, "ready-s")
	b.ReportMetric(float64(f.rss)/n, "rss-kB")
	b.ReportMetric(float64(f.anon)/n, "anon-kB")
	b.ReportMetric(float64(f.hwm)/n, "hwm-kB")
	b.ReportMetric(float64(f.scrapedRSS)/n, "scraped-rss-kB")
	b.ReportMetric(float64(f.scrapedAnon)/n, "scraped-anon-kB")
}

// metricsAddrRE finds the metrics address in the daemon's log.
var metricsAddrRE = regexp.MustCompile(`msg="metrics listening" addr=(\S+)`)

// startDaemon runs `certctl daemon` on the store at path until its first
// scan is done, measures it, scrapes /metrics once, measures it again and
// stops it with SIGTERM.
func startDaemon(b *testing.B, bin, path string) daemonFigures {
	b.Helper()
	ctx, cancel := context.WithTimeout(b.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "daemon", "--store", path, "--log-level", "info",
		"--metrics-addr", "127.0.0.1:0", "--schedule", "@every 24h")
	cmd.Env = append(os.Environ(), "CERTCTL_STORE=", "CERTCTL_STORE_KEY_FILE=")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()
	// Read the log until the first scan is done; keep draining it after.
	lines := bufio.NewScanner(stderr)
	var addr string
	var ready time.Duration
	var logged []string
	for ready == 0 && lines.Scan() {
		line := lines.Text()
		logged = append(logged, line)
		if m := metricsAddrRE.FindStringSubmatch(line); m != nil {
			addr = m[1]
		}
		if strings.Contains(line, `msg="scan done"`) {
			ready = time.Since(start)
		}
	}
	if ready == 0 {
		b.Fatalf("daemon ended before its first scan was done; log:\n%s", strings.Join(logged, "\n"))
	}
	go func() { _, _ = io.Copy(io.Discard, stderr) }()
	f := daemonFigures{ready: ready}
	st := procStatus(b, cmd.Process.Pid)
	f.rss, f.anon, f.hwm = st["VmRSS"], st["RssAnon"], st["VmHWM"]
	if addr == "" {
		b.Fatalf("no metrics address in the daemon's log:\n%s", strings.Join(logged, "\n"))
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("GET /metrics: %d, %v", resp.StatusCode, err)
	}
	if !strings.Contains(string(body), `certctl_certificate_not_after_timestamp_seconds{name="host-0.example"}`) {
		b.Fatal("/metrics has no series of host-0.example")
	}
	st = procStatus(b, cmd.Process.Pid)
	f.scrapedRSS, f.scrapedAnon = st["VmRSS"], st["RssAnon"]
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		b.Fatal(err)
	}
	stopped = true
	if err := cmd.Wait(); err != nil {
		b.Fatalf("daemon exit: %v", err)
	}
	return f
}

// procStatus reads the kB fields of /proc/PID/status.
func procStatus(b *testing.B, pid int) map[string]int64 {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	out := map[string]int64{}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || !strings.HasSuffix(v, " kB") {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(v, " kB")), 10, 64)
		if err == nil {
			out[k] = n
		}
	}
	return out
}
