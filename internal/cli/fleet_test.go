package cli_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/certctl/certctl"
	"github.com/certctl/certctl/internal/acmetest"
	"github.com/certctl/certctl/internal/etcdtest"
	"github.com/certctl/certctl/store"
)

// fleetLockTTL is the lease TTL of the fleet's per-certificate locks: short,
// so that a killed node's locks free quickly.
const fleetLockTTL = "5s"

// fleet is certificates on one embedded etcd prefix, issued from one
// in-process Pebble, and the processes of the nodes that share them.
type fleet struct {
	t     *testing.T
	h     *harness // Pebble; h.store is the etcd store URL
	etcd  *etcdtest.Server
	db    store.Backend // the test's own client of the store
	roots *x509.CertPool
	names []string
}

// newFleet issues n certificates (one name each) through the CLI into a
// fresh etcd store, a few at once.
func newFleet(t *testing.T, n int) *fleet {
	t.Helper()
	h := newHarness(t, acmetest.Options{})
	f := &fleet{t: t, h: h, etcd: etcdtest.StartT(t), roots: x509.NewCertPool()}
	h.store = f.etcd.StoreURL("fleet")
	f.db = openURL(t, h.store)
	f.roots.AppendCertsFromPEM(h.root)
	for i := range n {
		f.names = append(f.names, fmt.Sprintf("n%02d.fleet.example", i))
	}
	// Pebble's http-01 requests reach a handler answering from the store;
	// each order listens on a port of its own (in-process orders on one
	// address would share one responder, linked to the first order's store
	// client, which that order closes when it ends).
	ln, err := net.Listen("tcp", h.httpAddr())
	if err != nil {
		t.Fatal(err)
	}
	challenges := &http.Server{Handler: certctl.ChallengeHandler(f.db, nil), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = challenges.Serve(ln) }()
	defer challenges.Close()
	var wg sync.WaitGroup
	errs := make(chan string, n)
	sem := make(chan struct{}, 5)
	for _, name := range f.names {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			code, out, stderr := h.run(f.globals("issue", "-d", name, "--http-addr", freeAddr(t), "--agree-tos")...)
			if code != 0 || !strings.Contains(out, "ISSUED") {
				errs <- fmt.Sprintf("issue %s: exit %d\n%s%s", name, code, out, stderr)
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	return f
}

// globals are the arguments after the harness's globals: the lock TTL, a
// short etcd timeout (an outage is noticed within 3 s) and args. (harness.run adds the harness's own globals.)
func (f *fleet) globals(args ...string) []string {
	return append([]string{"--etcd-lock-ttl", fleetLockTTL, "--etcd-dial-timeout", "1s"}, args...)
}

// startNode runs `certctl daemon` on the fleet's store, with its HTTP-01
// responder on httpAddr (node 0 with --serve-challenges: the one that
// Pebble's validation reaches; the others on a port Pebble never dials, so
// their tokens reach the CA only through the store).
func (f *fleet) startNode(i int, httpAddr, metricsAddr string) *daemonProc {
	f.t.Helper()
	args := append(f.h.globals(), f.globals("daemon", "--log-level", "info", "--schedule", "@every 1h",
		"--metrics-addr", metricsAddr, "--http-addr", httpAddr)...)
	if i == 0 {
		args = append(args, "--serve-challenges")
	}
	d := startDaemonArgs(f.t, args...)
	d.waitLog(f.t, "daemon started", time.Minute)
	return d
}

// gate is the load balancer in front of the fleet's HTTP-01 responders as
// Pebble sees it: it passes Pebble's validation requests to one node, and
// can hold them until it is opened.
type gate struct {
	open  chan struct{} // closed when requests may pass
	once  sync.Once
	hosts chan string // the Host of each request held
}

// startGate listens on Pebble's http-01 port and forwards to target; closed
// says whether it holds requests until Open.
func (f *fleet) startGate(target string, closed bool) *gate {
	f.t.Helper()
	g := &gate{open: make(chan struct{}), hosts: make(chan string, 1024)}
	if !closed {
		g.Open()
	}
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: target})
	proxy.ErrorLog = log.New(io.Discard, "", 0) // Pebble giving up on a held request
	ln, err := net.Listen("tcp", f.h.httpAddr())
	if err != nil {
		f.t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-g.open:
		default:
			host, _, err := net.SplitHostPort(r.Host)
			if err != nil {
				host = r.Host
			}
			select {
			case g.hosts <- host:
			default:
			}
			<-g.open
		}
		proxy.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(ln) }()
	f.t.Cleanup(func() { g.Open(); _ = srv.Close() })
	return g
}

// Open lets every request held and to come pass.
func (g *gate) Open() { g.once.Do(func() { close(g.open) }) }

// waitHeld waits until a validation request for host is held.
func (g *gate) waitHeld(t *testing.T, host string, timeout time.Duration) {
	t.Helper()
	limit := time.After(timeout)
	for {
		select {
		case h := <-g.hosts:
			if h == host {
				return
			}
		case <-limit:
			t.Fatalf("no validation request for %s in %v", host, timeout)
		}
	}
}

// serials returns each certificate's active serial.
func (f *fleet) serials() map[string]string {
	f.t.Helper()
	certs, err := f.db.List(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string]string{}
	for _, c := range certs {
		if v := c.ActiveVersion(); v != nil {
			out[c.Name] = v.Serial
		}
	}
	return out
}

// makeDue tells Pebble (ARI) that every certificate is due now and marks
// their records due.
func (f *fleet) makeDue() {
	f.t.Helper()
	ctx := context.Background()
	start := time.Now().Add(-time.Hour).Truncate(time.Second)
	for _, name := range f.names {
		c, err := f.db.Get(ctx, name)
		if err != nil {
			f.t.Fatal(err)
		}
		if err := f.h.srv.SetRenewalInfo(ctx, c.ActiveVersion().CertPEM, start, start.Add(30*time.Minute)); err != nil {
			f.t.Fatal(err)
		}
		c.ARI = store.ARIState{}
		c.Renewal.Next = time.Now()
		if err := f.db.Put(ctx, c); err != nil {
			f.t.Fatal(err)
		}
	}
}

// waitRenewed waits, woken by the store's watch, until every certificate's
// active serial differs from old, and returns the new serials.
func (f *fleet) waitRenewed(old map[string]string, timeout time.Duration) map[string]string {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	changes := f.db.(store.Watcher).Watch(ctx)
	for {
		now := f.serials()
		left := 0
		for _, name := range f.names {
			if now[name] == old[name] {
				left++
			}
		}
		if left == 0 {
			return now
		}
		select {
		case _, ok := <-changes:
			if !ok && ctx.Err() == nil {
				changes = f.db.(store.Watcher).Watch(ctx)
			}
		case <-ctx.Done():
			f.t.Fatalf("%d of %d certificates not renewed in %v", left, len(f.names), timeout)
		}
	}
}

// renewalOrders counts Pebble's newOrder requests per name from the
// (before+1)-th on, less those it refused for their "replaces" as the
// nodes logged; every order names one certificate of the fleet.
//
// Pebble refuses (500, "could not find an order for the given
// certificate") the replaces of a certificate whose serial's first byte is
// 0x80 or more: it looks the serial up in hex with the DER sign byte
// ("00a0...") where it stored it without ("a0..."). The daemon then orders
// again without replaces, which is one order for the CA.
func (f *fleet) renewalOrders(before int, procs []*daemonProc) (per map[string]int, refused int) {
	f.t.Helper()
	per = map[string]int{}
	for _, ids := range f.h.srv.OrderIdentifiers()[before:] {
		if len(ids) != 1 || !slices.Contains(f.names, ids[0]) {
			f.t.Fatalf("unexpected order for %v", ids)
		}
		per[ids[0]]++
	}
	for _, d := range procs {
		for _, l := range logLines(d, "CA refused the order with replaces; ordering without it") {
			per[strings.Trim(l["domains"], "[]")]--
			refused++
		}
	}
	return per, refused
}

// verifyActive checks that every certificate's active version verifies
// against Pebble's root for its names.
func (f *fleet) verifyActive() {
	f.t.Helper()
	certs, err := f.db.List(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	for _, c := range certs {
		v := c.ActiveVersion()
		leaf := parseCertPEM(f.t, v.CertPEM)
		inter := x509.NewCertPool()
		inter.AppendCertsFromPEM(v.ChainPEM)
		for _, d := range c.Domains {
			if _, err := leaf.Verify(x509.VerifyOptions{DNSName: d, Roots: f.roots, Intermediates: inter}); err != nil {
				f.t.Fatalf("%s: active version does not verify for %s: %v", c.Name, d, err)
			}
		}
	}
}

func parseCertPEM(t *testing.T, b []byte) *x509.Certificate {
	t.Helper()
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatal("no PEM certificate")
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// logField matches one key=value of slog's text format.
var logField = regexp.MustCompile(`(\w+)=("(?:[^"\\]|\\.)*"|\S+)`)

// logLines returns the lines of d's log whose msg is msg (every line for
// ""), as fields.
func logLines(d *daemonProc, msg string) []map[string]string {
	var out []map[string]string
	for _, l := range strings.Split(d.text(), "\n") {
		kv := map[string]string{}
		for _, m := range logField.FindAllStringSubmatch(l, -1) {
			kv[m[1]] = strings.Trim(m[2], `"`)
		}
		if msg == "" || kv["msg"] == msg {
			out = append(out, kv)
		}
	}
	return out
}

// waitIdle waits, woken by each log line, until d's last scan said that
// nothing is due for the next half hour: d scans again only when told to.
func waitIdle(t *testing.T, d *daemonProc, timeout time.Duration) {
	t.Helper()
	limit := time.After(timeout)
	for {
		d.mu.Lock()
		logged := d.logged
		d.mu.Unlock()
		var last map[string]string // the last scan's "scan done", nil while it runs
		for _, l := range logLines(d, "") {
			switch l["msg"] {
			case "scan":
				last = nil
			case "scan done":
				last = l
			}
		}
		if last != nil {
			next, err := time.Parse(time.RFC3339Nano, last["next"])
			if err == nil && time.Until(next) > 30*time.Minute {
				return
			}
		}
		select {
		case <-logged:
		case <-d.done:
			t.Fatalf("daemon exited:\n%s", d.text())
		case <-limit:
			t.Fatalf("daemon still busy after %v:\n%s", timeout, d.text())
		}
	}
}

// grepLogs returns the lines of the processes' logs that mention s.
func grepLogs(procs []*daemonProc, s string) string {
	var out []string
	for i, d := range procs {
		for _, l := range strings.Split(d.text(), "\n") {
			if strings.Contains(l, s) {
				out = append(out, fmt.Sprintf("%d: %s", i, l))
			}
		}
	}
	return strings.Join(out, "\n")
}

func logTime(t *testing.T, kv map[string]string) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339Nano, kv["time"])
	if err != nil {
		t.Fatalf("log time %q: %v", kv["time"], err)
	}
	return at
}

// Three daemons share 50 due certificates on one etcd; one is killed with
// SIGKILL while it orders. Every certificate is renewed once (a certificate
// whose order died with its node may be ordered once more, after the lock's
// lease ended), every active version verifies, HTTP-01 passes although
// Pebble reaches only node 0, and three fleet-node servers (one per node) each
// serve every new serial, pushed by the store's watch.
func TestFleet_KillNodeMidRenewal(t *testing.T) {
	if testing.Short() {
		t.Skip("fleet test: three daemons and 50 certificates")
	}
	const n = 50
	f := newFleet(t, n)
	old := f.serials()
	if len(old) != n {
		t.Fatalf("%d certificates issued, want %d", len(old), n)
	}
	bin, err := buildFleetNode()
	if err != nil {
		t.Fatal(err)
	}
	var servers []*daemonProc
	var addrs []string
	for range 3 {
		addr := freeAddr(t)
		s := startProc(t, bin, "--store", f.h.store, "--listen", addr, "--debug")
		s.waitLog(t, "msg=serving", time.Minute)
		servers, addrs = append(servers, s), append(addrs, addr)
	}
	for i, addr := range addrs {
		if got, err := servedSerial(addr, f.names[n-1], f.roots); err != nil || got != old[f.names[n-1]] {
			t.Fatalf("server %d serves %q (%v) before renewals, want %s", i, got, err, old[f.names[n-1]])
		}
	}

	// Validations wait at the gate until the victim is killed, so that the
	// victim dies with orders placed and unfinished.
	responder := freeAddr(t)
	g := f.startGate(responder, true)
	before := f.h.srv.Orders()
	f.makeDue()
	var nodes []*daemonProc
	for i := range 3 {
		addr := responder
		if i > 0 {
			addr = freeAddr(t)
		}
		nodes = append(nodes, f.startNode(i, addr, ""))
	}
	victim := nodes[1]
	victim.waitLog(t, "ordering certificate", time.Minute)
	first := logLines(victim, "ordering certificate")[0]["name"]
	g.waitHeld(t, first, time.Minute) // the victim's order is placed
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-victim.done
	g.Open()
	// The certificates the victim was ordering when it died.
	var killed []string
	for _, l := range logLines(victim, "ordering certificate") {
		killed = append(killed, l["name"])
	}
	for _, l := range logLines(victim, "certificate renewed") {
		killed = slices.DeleteFunc(killed, func(s string) bool { return s == l["name"] })
	}
	if !slices.Contains(killed, first) {
		t.Fatalf("the killed node renewed %s before it was killed:\n%s", first, victim.text())
	}

	now := f.waitRenewed(old, 2*time.Minute)
	f.verifyActive()
	orders, refused := f.renewalOrders(before, nodes)
	extra := 0
	for _, name := range f.names {
		want := 1
		if slices.Contains(killed, name) {
			want = 2 // the victim's order, then the node that took the lock over
		}
		if orders[name] < 1 || orders[name] > want {
			t.Errorf("%s: %d renewal orders, want 1 (at most %d); the nodes logged:\n%s", name, orders[name], want,
				grepLogs(nodes, name))
		}
		extra += orders[name] - 1
	}
	t.Logf("%d newOrder requests for %d certificates (%d refused by Pebble for their replaces); the killed node was ordering %d (%v), %d ordered twice",
		len(f.h.srv.OrderIdentifiers())-before, n, refused, len(killed), killed, extra)

	// The victim's locks freed when its lease ended: another node renewed
	// its certificates, and the locks can be taken now.
	renewedBy := map[string]int{}
	for i, d := range nodes {
		for _, l := range logLines(d, "certificate renewed") {
			if l["serial"] == now[l["name"]] {
				renewedBy[l["name"]] = i
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, name := range killed {
		if i, ok := renewedBy[name]; !ok || i == 1 {
			t.Errorf("%s: renewal by node %d (ok %v), want another node than the killed one", name, i, ok)
		}
		unlock, err := f.db.Lock(ctx, name)
		if err != nil {
			t.Fatalf("%s: lock after the killed node's lease: %v", name, err)
		}
		unlock()
	}

	// Every server installs every new serial, pushed by the store's watch;
	// the latency runs from the committing daemon's log line to the
	// server's.
	committed := map[string]time.Time{} // serial -> commit
	for _, d := range nodes {
		for _, l := range logLines(d, "certificate renewed") {
			committed[l["serial"]] = logTime(t, l)
		}
	}
	var lat []time.Duration
	for i, s := range servers {
		for _, name := range f.names {
			s.waitLog(t, "serial="+now[name], time.Minute)
		}
		seen := map[string]bool{} // a record written again is installed again
		for _, l := range logLines(s, "certificate installed") {
			if c, ok := committed[l["serial"]]; ok && l["serial"] == now[l["name"]] && !seen[l["serial"]] {
				seen[l["serial"]] = true
				lat = append(lat, logTime(t, l).Sub(c))
			}
		}
		for _, name := range f.names {
			got, err := servedSerial(addrs[i], name, f.roots)
			if err != nil || got != now[name] {
				t.Fatalf("server %d serves %q for %s (%v), want %s", i, got, name, err, now[name])
			}
		}
	}
	slices.Sort(lat)
	if len(lat) > 0 {
		t.Logf("commit -> served on %d servers: %d samples, p50 %v, p99 %v, max %v", len(servers), len(lat),
			lat[len(lat)/2], lat[(len(lat)*99)/100], lat[len(lat)-1])
	}
	for _, d := range []*daemonProc{nodes[0], nodes[2]} {
		d.stop(t)
	}
	for _, s := range servers {
		s.stop(t)
	}
}

// Three daemons keep running while etcd is stopped for ten seconds with
// certificates due: each reports certctl_store_up 0, none orders anything
// twice, and once etcd is back every certificate is renewed and each
// daemon reports the store up. (TestDaemon_EtcdOutage checks one daemon's
// log lines and /healthz in detail.)
func TestFleet_EtcdOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("fleet test: three daemons and an etcd outage")
	}
	f := newFleet(t, 10)
	old := f.serials()
	responder := freeAddr(t)
	f.startGate(responder, false)
	var nodes []*daemonProc
	var metrics []string
	for i := range 3 {
		addr, http01 := freeAddr(t), responder
		if i > 0 {
			http01 = freeAddr(t)
		}
		d := f.startNode(i, http01, addr)
		nodes, metrics = append(nodes, d), append(metrics, addr)
	}
	for _, d := range nodes {
		waitIdle(t, d, time.Minute)
	}
	before := f.h.srv.Orders()
	f.makeDue()
	f.etcd.Stop()
	for _, d := range nodes {
		_ = d.cmd.Process.Signal(syscall.SIGHUP) // scan now, against the stopped etcd
	}
	for i, d := range nodes {
		d.waitLog(t, "store unavailable", time.Minute)
		if v := scrape(t, metrics[i])["certctl_store_up"].value(""); v != 0 {
			t.Fatalf("node %d: certctl_store_up = %v with etcd stopped, want 0", i, v)
		}
	}
	// The outage lasts ten seconds, twice the locks' TTL: the daemons' lock
	// sessions expire meanwhile.
	<-time.After(10 * time.Second)
	if err := f.etcd.Restart(); err != nil {
		t.Fatal(err)
	}
	f.waitRenewed(old, 2*time.Minute)
	f.verifyActive()
	orders, refused := f.renewalOrders(before, nodes)
	for _, name := range f.names {
		if orders[name] != 1 {
			t.Errorf("%s: %d renewal orders, want 1; the nodes logged:\n%s", name, orders[name], grepLogs(nodes, name))
		}
	}
	t.Logf("%d newOrder requests for %d certificates (%d refused by Pebble for their replaces)",
		f.h.srv.Orders()-before, len(f.names), refused)
	for i, d := range nodes {
		d.waitLog(t, "store available again", time.Minute)
		if v := scrape(t, metrics[i])["certctl_store_up"].value(""); v != 1 {
			t.Fatalf("node %d: certctl_store_up = %v after etcd returned, want 1", i, v)
		}
		d.stop(t)
	}
}
