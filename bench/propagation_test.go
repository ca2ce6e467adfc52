package bench

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certctl/certctl"
	"github.com/certctl/certctl/bindings"
	"github.com/certctl/certctl/internal/etcdtest"
	"github.com/certctl/certctl/internal/testpki"
	"github.com/certctl/certctl/store"
)

// Environment of a helper process: its mode (childBinder or childWatch) and
// the store URL it opens.
const (
	envChild = "CERTCTL_BENCH_CHILD"
	envStore = "CERTCTL_BENCH_STORE"
)

// Modes of a helper process.
const (
	// childBinder runs Binder.Watch on certctl.BinderSource of the store
	// and prints "installed NAME SERIAL UNIXNANO" each time the binder
	// starts serving a certificate (the serial is what GetCertificate
	// returns for NAME at that moment).
	childBinder = "binder"
	// childWatch runs the store's Watch alone (etcd) and prints "ready"
	// once it is subscribed, then "notify UNIXNANO" per value received.
	childWatch = "watch"
)

// Parameters of the propagation benchmark.
const (
	propBinders = 3  // helper processes
	propCerts   = 10 // certificates in the store, renewed in turn
	// Minimum commits per run: a p99 over 200 x 3 samples for etcd; the
	// bbolt baseline waits about half its 1 s poll per commit.
	propCommitsEtcd  = 200
	propCommitsBbolt = 20
	// propTimeout bounds the wait for one commit to reach every helper
	// (a failure guard, not a measurement).
	propTimeout = 30 * time.Second
)

// runChild is the helper process: it follows the store at $CERTCTL_BENCH_STORE
// in mode until its stdin is closed, and returns the exit code.
func runChild(mode string) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	db, err := store.OpenURL(ctx, os.Getenv(envStore), nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench helper:", err)
		return 1
	}
	defer db.Close()
	out := &lineWriter{w: bufio.NewWriter(os.Stdout)}
	switch mode {
	case childBinder:
		h := &installReporter{out: out}
		bd := bindings.New(&bindings.Options{Logger: slog.New(h)})
		h.bd.Store(bd)
		err = bd.Watch(ctx, certctl.BinderSource(db), 0)
	case childWatch:
		w, ok := db.(store.Watcher)
		if !ok {
			fmt.Fprintf(os.Stderr, "bench helper: %s has no Watch\n", db.Location())
			return 1
		}
		ch := w.Watch(ctx)
		out.printf("ready")
		for range ch {
			out.printf("notify %d", time.Now().UnixNano())
		}
		err = ctx.Err()
	default:
		fmt.Fprintf(os.Stderr, "bench helper: unknown mode %q\n", mode)
		return 1
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "bench helper:", err)
		return 1
	}
	return 0
}

// lineWriter writes whole lines to a helper's stdout, one at a time.
type lineWriter struct {
	mu sync.Mutex
	w  *bufio.Writer
}

func (l *lineWriter) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format+"\n", args...)
	_ = l.w.Flush()
}

// installReporter is the slog.Handler of a helper's binder: on each
// "certificate installed" record (logged after the new snapshot is
// published) it asks the binder what it now serves for that name and
// prints it with the time.
type installReporter struct {
	out *lineWriter
	bd  atomic.Pointer[bindings.Binder]
}

func (h *installReporter) Enabled(context.Context, slog.Level) bool { return true }
func (h *installReporter) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *installReporter) WithGroup(string) slog.Handler            { return h }

func (h *installReporter) Handle(_ context.Context, r slog.Record) error {
	now := time.Now()
	if r.Level >= slog.LevelWarn {
		// Shown on the benchmark's stderr: a refusal or a failed read
		// would otherwise only show as a timeout.
		msg := r.Message
		r.Attrs(func(a slog.Attr) bool { msg += " " + a.String(); return true })
		fmt.Fprintln(os.Stderr, "bench helper:", msg)
	}
	if r.Message != "certificate installed" {
		return nil
	}
	var name string
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "name" {
			name = a.Value.String()
			return false
		}
		return true
	})
	bd := h.bd.Load()
	if name == "" || bd == nil {
		return nil
	}
	c, err := bd.GetCertificate(&tls.ClientHelloInfo{ServerName: name})
	if err != nil || c.Leaf == nil {
		h.out.printf("installed %s none %d", name, now.UnixNano())
		return nil
	}
	h.out.printf("installed %s %s %d", name, hex.EncodeToString(c.Leaf.SerialNumber.Bytes()), now.UnixNano())
	return nil
}

// event is one line of a helper, or its end (kind "exit").
type event struct {
	child        int
	kind         string
	name, serial string
	at           time.Time
}

// fleet is a set of helper processes following one store.
type fleet struct {
	events chan event
	n      int
	served []map[string]served // by helper: what it serves, by name
	stdins []io.WriteCloser
	cmds   []*exec.Cmd
}

// startFleet starts n helpers in mode on the store at url; they are stopped
// when tb ends.
func startFleet(tb testing.TB, mode, url string, n int) *fleet {
	tb.Helper()
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	f := &fleet{events: make(chan event, 4096), n: n}
	tb.Cleanup(f.stop)
	for i := range n {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), envChild+"="+mode, envStore+"="+url)
		cmd.Stderr = os.Stderr
		stdin, err := cmd.StdinPipe()
		if err != nil {
			tb.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			tb.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			tb.Fatal(err)
		}
		f.cmds = append(f.cmds, cmd)
		f.served = append(f.served, make(map[string]served))
		f.stdins = append(f.stdins, stdin)
		go f.read(i, stdout)
	}
	return f
}

// read turns the lines of helper i into events.
func (f *fleet) read(i int, r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		ev := event{child: i}
		if len(fields) > 0 {
			ev.kind = fields[0]
		}
		switch {
		case ev.kind == "installed" && len(fields) == 4:
			ev.name, ev.serial, ev.at = fields[1], fields[2], unixNano(fields[3])
		case ev.kind == "notify" && len(fields) == 2:
			ev.at = unixNano(fields[1])
		case ev.kind == "ready":
		default:
			ev.kind = "garbled: " + sc.Text()
		}
		f.events <- ev
	}
	f.events <- event{child: i, kind: "exit"}
}

func unixNano(s string) time.Time {
	n, _ := strconv.ParseInt(s, 10, 64)
	return time.Unix(0, n)
}

// stop closes the helpers' stdin and waits for them to exit.
func (f *fleet) stop() {
	for _, w := range f.stdins {
		_ = w.Close()
	}
	for _, c := range f.cmds {
		_ = c.Wait()
	}
	f.stdins, f.cmds = nil, nil
}

// served is the certificate a helper started to serve, and when.
type served struct {
	serial string
	at     time.Time
}

// next returns the next event of any helper, after recording an
// "installed" one in f.served; an exit or garbled line, or none within
// propTimeout, fails tb.
func (f *fleet) next(tb testing.TB) event {
	tb.Helper()
	t := time.NewTimer(propTimeout)
	defer t.Stop()
	select {
	case ev := <-f.events:
		if ev.kind != "installed" && ev.kind != "notify" && ev.kind != "ready" {
			tb.Fatalf("helper %d: %s", ev.child, ev.kind)
		}
		if ev.kind == "installed" {
			f.served[ev.child][ev.name] = served{ev.serial, ev.at}
		}
		return ev
	case <-t.C:
		tb.Fatalf("no helper reported anything for %s", propTimeout)
		return event{}
	}
}

// waitReady waits for a "ready" line from every helper.
func (f *fleet) waitReady(tb testing.TB) {
	tb.Helper()
	seen := make([]bool, f.n)
	for left := f.n; left > 0; {
		if ev := f.next(tb); ev.kind == "ready" && !seen[ev.child] {
			seen[ev.child] = true
			left--
		}
	}
}

// waitServed waits until every helper serves serial for name, and returns
// for each the time from t0 to the moment it started to.
func (f *fleet) waitServed(tb testing.TB, name, serial string, t0 time.Time) []time.Duration {
	tb.Helper()
	lat := make([]time.Duration, f.n)
	for {
		done := 0
		for i, m := range f.served {
			if s, ok := m[name]; ok && s.serial == serial {
				lat[i] = s.at.Sub(t0)
				done++
			}
		}
		if done == f.n {
			return lat
		}
		f.next(tb)
	}
}

// waitNotified waits until every helper received a change after t0, and
// returns for each the time from t0 to it.
func (f *fleet) waitNotified(tb testing.TB, t0 time.Time) []time.Duration {
	tb.Helper()
	lat := make([]time.Duration, f.n)
	done := make([]bool, f.n)
	for left := f.n; left > 0; {
		ev := f.next(tb)
		if ev.kind == "notify" && !ev.at.Before(t0) && !done[ev.child] {
			done[ev.child] = true
			lat[ev.child] = ev.at.Sub(t0)
			left--
		}
	}
	return lat
}

// issuer makes the versions of the propagation benchmark's certificates.
type issuer struct {
	inter *testpki.CA
	chain []byte
}

func newIssuer(tb testing.TB) *issuer {
	now := time.Now()
	inter := testpki.NewRoot(tb, "Bench Root").SubCA(tb, "Bench Intermediate", now.Add(-time.Hour), now.Add(2*leafLifetime))
	return &issuer{inter: inter, chain: inter.PEM()}
}

// version returns a new version seq of certificate name with its own key.
func (is *issuer) version(tb testing.TB, name string, seq int) store.Version {
	now := time.Now()
	l := is.inter.Issue(tb, testpki.LeafSpec{Names: []string{name}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(leafLifetime)})
	return store.Version{
		Seq: seq, Serial: l.Serial(), CertPEM: l.CertPEM(), ChainPEM: is.chain, KeyPEM: l.KeyPEM(tb),
		NotBefore: l.Cert.NotBefore, NotAfter: l.Cert.NotAfter, Issued: now,
	}
}

// propagation is one run of commits: a writer renews the certificates of
// the store at url in turn (Get, AddVersion of a new version, Put), and
// after each Put waits until every helper of mode serves it (childBinder)
// or was notified (childWatch). It returns the latencies, helpers x
// commits of them, from the start of each Put, and the mean time per commit
// (Put plus the wait for the slowest helper).
//
// Before each commit it waits a random time below pace, so that commits
// fall at random phases of a polling helper's interval (a commit made
// just after the helpers' last poll would otherwise wait a whole interval
// every time).
func propagation(tb testing.TB, mode, url string, commits int, pace time.Duration) (lat []time.Duration, perCommit time.Duration) {
	tb.Helper()
	ctx := context.Background()
	w, err := store.OpenURL(ctx, url, nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer w.Close()
	is := newIssuer(tb)
	serials := make(map[string]string, propCerts)
	for i := range propCerts {
		name := certName(i)
		c := &store.Certificate{
			Name: name, Domains: []string{name}, KeyType: "ec256",
			Challenge: store.Challenge{Type: "http-01", HTTPAddr: "127.0.0.1:5002"},
			Directory: "https://127.0.0.1:14000/dir",
		}
		c.AddVersion(is.version(tb, name, 1))
		if err := w.Put(ctx, c); err != nil {
			tb.Fatal(err)
		}
		serials[name] = c.ActiveVersion().Serial
	}
	f := startFleet(tb, mode, url, propBinders)
	if mode == childWatch {
		f.waitReady(tb)
	} else {
		for name, serial := range serials {
			f.waitServed(tb, name, serial, time.Time{})
		}
	}
	var busy time.Duration
	for i := range commits {
		name := certName(i % propCerts)
		c, err := w.Get(ctx, name)
		if err != nil {
			tb.Fatal(err)
		}
		v := is.version(tb, name, c.NextSeq())
		c.AddVersion(v)
		if pace > 0 {
			<-time.After(rand.N(pace))
		}
		t0 := time.Now()
		if err := w.Put(ctx, c); err != nil {
			tb.Fatal(err)
		}
		if mode == childWatch {
			lat = append(lat, f.waitNotified(tb, t0)...)
		} else {
			lat = append(lat, f.waitServed(tb, name, v.Serial, t0)...)
		}
		busy += time.Since(t0)
	}
	f.stop()
	return lat, busy / time.Duration(commits)
}

// propStores counts the stores made by propagation runs, for unique
// etcd prefixes.
var propStores atomic.Int64

// etcdPropURL returns the URL of a new, empty etcd store on the benchmarks'
// member.
func etcdPropURL(tb testing.TB) string {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	return benchServer(tb).StoreURL(fmt.Sprintf("prop%d", propStores.Add(1)))
}

// BenchmarkPropagation measures commit → swap across processes: a writer
// commits renewals (a Put of a new active version) and three helper
// processes follow the store. Reported: p50, p99 and max of the time from
// the start of the Put until each helper serves the new certificate, over
// at least 200 commits (20 for bbolt) x 3 helpers, and ns/op is the mean
// time per commit from the start of its Put until the last helper serves
// it. The bbolt commits are paced at random phases of the poll (see
// propagation).
//
//   - etcd-binder: Binder.Watch on certctl.BinderSource of an etcd store
//     (pushed by the store's watch, then a Sync: Generation, Revisions,
//     Load of the changed record).
//   - etcd-watch: the store's raw Watch notification, without a binder:
//     the floor set by etcd and the watch.
//   - bbolt-poll: Binder.Watch on a bbolt store, which polls the
//     generation at Watch's default interval of 1 s: the baseline.
func BenchmarkPropagation(b *testing.B) {
	cases := []struct {
		name, mode string
		url        func(*testing.B) string
		min        int
		pace       time.Duration
	}{
		{"etcd-binder", childBinder, func(b *testing.B) string { return etcdPropURL(b) }, propCommitsEtcd, 0},
		{"etcd-watch", childWatch, func(b *testing.B) string { return etcdPropURL(b) }, propCommitsEtcd, 0},
		{"bbolt-poll", childBinder, func(b *testing.B) string { return filepath.Join(b.TempDir(), "certctl.db") }, propCommitsBbolt, time.Second},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			commits := max(b.N, tc.min)
			lat, perCommit := propagation(b, tc.mode, tc.url(b), commits, tc.pace)
			slices.Sort(lat)
			ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
			b.ReportMetric(float64(perCommit), "ns/op")
			b.ReportMetric(ms(percentile(lat, 0.50)), "p50-ms")
			b.ReportMetric(ms(percentile(lat, 0.99)), "p99-ms")
			b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
			b.ReportMetric(float64(len(lat)), "samples")
		})
	}
}

// percentile returns the q-quantile of sorted (nearest rank).
func percentile(sorted []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// TestPropagation_EtcdBinders checks the propagation benchmark's machinery
// on a few commits: three binder processes on one etcd store each serve
// every renewal the writer commits, and three raw watchers are each
// notified of every commit.
func TestPropagation_EtcdBinders(t *testing.T) {
	srv := etcdtest.StartT(t)
	const commits = 4
	lat, _ := propagation(t, childBinder, srv.StoreURL("binders"), commits, 0)
	if len(lat) != commits*propBinders {
		t.Fatalf("%d latencies, want %d", len(lat), commits*propBinders)
	}
	lat, _ = propagation(t, childWatch, srv.StoreURL("watchers"), commits, 0)
	if len(lat) != commits*propBinders {
		t.Fatalf("%d latencies, want %d", len(lat), commits*propBinders)
	}
}

// TestPercentile pins the nearest-rank quantile the benchmark reports.
func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 200; i++ {
		d = append(d, time.Duration(i))
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 100}, {0.99, 198}, {1, 200}, {0, 1}} {
		if got := percentile(d, tc.q); got != tc.want {
			t.Errorf("percentile(1..200, %v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	if got := percentile([]time.Duration{7}, 0.99); got != 7 {
		t.Errorf("percentile of one = %v, want 7", got)
	}
}
