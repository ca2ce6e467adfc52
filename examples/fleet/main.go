// Command fleet is a local fleet demo: an embedded etcd, the sandbox CA and
// three nodes that serve HTTPS for the same names from one etcd store, each
// with its own `certctl daemon`. It issues a few certificates, makes them
// all due, kills one node's daemon (SIGKILL) while it is ordering, and
// checks that each certificate was ordered once (plus at most once more for
// a certificate whose order died with the node) and that every node serves
// every new serial. It stops everything it started and exits 1 if a check
// fails.
//
//	go run ./examples/fleet -certctl bin/certctl   (or: make fleet-demo)
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/certctl/certctl"
	"github.com/certctl/certctl/bindings"
	"github.com/certctl/certctl/internal/acmetest"
	"github.com/certctl/certctl/internal/etcdtest"
	"github.com/certctl/certctl/store"
)

var (
	verbose   bool
	refusedMu sync.Mutex
	refused   = map[string]int{} // newOrder requests the CA refused, by name
)

var names = []string{"fleet.example", "www.fleet.example", "api.fleet.example", "shop.fleet.example"}

func main() {
	bin := flag.String("certctl", "bin/certctl", "the certctl binary")
	flag.BoolVar(&verbose, "v", false, "copy the daemons' logs to stderr")
	flag.Parse()
	if err := run(*bin); err != nil {
		fmt.Println("FAIL:", err)
		os.Exit(1)
	}
}

func run(bin string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "certctl-fleet-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	etcd, err := etcdtest.Start(filepath.Join(dir, "etcd"))
	if err != nil {
		return err
	}
	defer etcd.Stop()
	ca, err := acmetest.Start(acmetest.Options{})
	if err != nil {
		return err
	}
	defer ca.Close()
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.ServerCAPEM(), 0o600); err != nil {
		return err
	}
	roots, _ := ca.Roots()
	url := etcd.StoreURL("demo")
	fmt.Printf("etcd at %s, sandbox CA at %s\n", etcd.HostPort(), ca.DirectoryURL())
	global := []string{"--store", url, "--directory", ca.DirectoryURL(), "--ca-cert", caFile,
		"--email", "ops@fleet.example", "--resolver", ca.DNSAddr(), "--etcd-lock-ttl", "5s"}

	// Every node: its own store client, a binder fed by the store's watch,
	// an HTTPS server. Node 1 also answers the fleet's HTTP-01 challenges on
	// the port the CA dials (the load balancer's port 80), holding them
	// until a node has been killed mid-order.
	var nodes []*node
	for i := range 3 {
		n, err := startNode(ctx, url, i+1)
		if err != nil {
			return err
		}
		defer n.close()
		nodes = append(nodes, n)
	}
	lb := &gate{open: true, held: make(chan string, 64)}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", ca.HTTPPort()))
	if err != nil {
		return err
	}
	challenges := certctl.ChallengeHandler(nodes[0].db, nil)
	port80 := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lb.wait(strings.Split(r.Host, ":")[0])
		challenges.ServeHTTP(w, r)
	})}
	go func() { _ = port80.Serve(ln) }()
	defer port80.Close()
	defer lb.set(true)

	for _, name := range names {
		if out, err := exec.CommandContext(ctx, bin, append(global, "issue", "-d", name, "--http-addr", freeAddr(), "--agree-tos")...).CombinedOutput(); err != nil {
			return fmt.Errorf("issuing %s: %v\n%s", name, err, out)
		}
	}
	old := serials(ctx, nodes[0].db)
	fmt.Printf("issued %d certificates; three nodes serve them, each with its own daemon\n", len(old))
	lb.set(false)

	// Make every certificate due: the CA's renewal window (ARI) is in the
	// past.
	start := time.Now().Add(-time.Hour)
	for _, name := range names {
		c, err := nodes[0].db.Get(ctx, name)
		if err != nil {
			return err
		}
		if err := ca.SetRenewalInfo(ctx, c.ActiveVersion().CertPEM, start, start.Add(30*time.Minute)); err != nil {
			return err
		}
		c.ARI, c.Renewal.Next = store.ARIState{}, time.Now()
		if err := nodes[0].db.Put(ctx, c); err != nil {
			return err
		}
	}
	before := ca.Orders()
	var daemons []*daemon
	for i := range 3 {
		d, err := startDaemon(ctx, bin, append(global, "daemon", "--log-level", "info", "--metrics-addr", "", "--http-addr", freeAddr(), "--workers", "1"), i+1)
		if err != nil {
			return err
		}
		defer d.stop()
		daemons = append(daemons, d)
	}
	victim := daemons[1]
	var killed string
	select {
	case killed = <-victim.ordering:
	case <-ctx.Done():
		return errors.New("node 2 never started an order")
	}
	for held := ""; held != killed; { // its order is placed: the CA is validating it
		select {
		case held = <-lb.held:
		case <-ctx.Done():
			return fmt.Errorf("the CA never validated %s", killed)
		}
	}
	_ = victim.cmd.Process.Signal(syscall.SIGKILL)
	<-victim.done
	lb.set(true)
	fmt.Printf("all due; killed node 2's daemon (SIGKILL) while the CA was validating its order for %s\n", killed)

	renewed, err := waitRenewed(ctx, nodes[0].db, old)
	if err != nil {
		return err
	}
	orders := map[string]int{}
	for _, ids := range ca.OrderIdentifiers()[before:] {
		orders[ids[0]]++
	}
	refusedMu.Lock()
	for name, k := range refused {
		orders[name] -= k
	}
	refusedMu.Unlock()
	var failed []string
	fmt.Printf("%-20s %-18s %-18s %-7s %s\n", "CERTIFICATE", "OLD SERIAL", "NEW SERIAL", "ORDERS", "SERVED BY NODES")
	for _, name := range names {
		var served []string
		for _, n := range nodes {
			if n.waitServed(ctx, name, renewed[name], roots) {
				served = append(served, fmt.Sprint(n.id))
			}
		}
		fmt.Printf("%-20s %-18s %-18s %-7d %s\n", name, old[name], renewed[name], orders[name], strings.Join(served, " "))
		allowed := 1
		if name == killed {
			allowed = 2 // the killed node's order, then the node that took its lock over
		}
		if orders[name] < 1 || orders[name] > allowed {
			failed = append(failed, fmt.Sprintf("%s ordered %d times", name, orders[name]))
		}
		if len(served) != len(nodes) {
			failed = append(failed, fmt.Sprintf("%s: new serial served by nodes %v only", name, served))
		}
	}
	if len(failed) > 0 {
		return errors.New(strings.Join(failed, "; "))
	}
	fmt.Println("ok: every certificate renewed once (its killed order aside), every node serves every new serial")
	return nil
}

// gate holds the CA's validation requests while it is closed, reporting
// the name of each on held.
type gate struct {
	mu   sync.Mutex
	open bool
	wake *sync.Cond
	held chan string
}

func (g *gate) set(open bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.open = open
	if g.wake != nil {
		g.wake.Broadcast()
	}
}

func (g *gate) wait(name string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.wake == nil {
		g.wake = sync.NewCond(&g.mu)
	}
	if !g.open {
		select {
		case g.held <- name:
		default:
		}
	}
	for !g.open {
		g.wake.Wait()
	}
}

// node is one HTTPS server of the fleet.
type node struct {
	id   int
	db   store.Backend
	addr string
	srv  *http.Server
}

func startNode(ctx context.Context, url string, id int) (*node, error) {
	db, err := store.OpenURL(ctx, url, nil)
	if err != nil {
		return nil, err
	}
	binder := bindings.New(nil)
	src := certctl.BinderSource(db)
	go binder.Watch(ctx, src, time.Second)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	n := &node{id: id, db: db, addr: ln.Addr().String(), srv: &http.Server{ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: binder.TLSConfig(bindings.Intermediate), ErrorLog: slog.NewLogLogger(slog.DiscardHandler, 0),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "node %d\n", id) })}}
	go func() { _ = n.srv.ServeTLS(ln, "", "") }()
	return n, nil
}

// served returns the serial that a new TLS handshake for name gets,
// verified against roots.
func (n *node) served(ctx context.Context, name string, roots *x509.CertPool) (string, error) {
	d := tls.Dialer{Config: &tls.Config{ServerName: name, RootCAs: roots}}
	conn, err := d.DialContext(ctx, "tcp", n.addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	leaf := conn.(*tls.Conn).ConnectionState().PeerCertificates[0]
	return hex.EncodeToString(leaf.SerialNumber.Bytes()), nil
}

// waitServed reports whether n serves serial for name within two seconds
// (its binder swaps a renewal in as soon as the store's watch reports it).
func (n *node) waitServed(ctx context.Context, name, serial string, roots *x509.CertPool) bool {
	for deadline := time.Now().Add(2 * time.Second); ; {
		if s, err := n.served(ctx, name, roots); err == nil && s == serial {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (n *node) close() { _ = n.srv.Close(); _ = n.db.Close() }

// daemon is one node's `certctl daemon` process.
type daemon struct {
	cmd      *exec.Cmd
	ordering chan string // names it starts ordering
	done     chan struct{}
}

func startDaemon(ctx context.Context, bin string, args []string, id int) (*daemon, error) {
	d := &daemon{cmd: exec.Command(bin, args...), ordering: make(chan string, 64), done: make(chan struct{})}
	stderr, err := d.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := d.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		defer close(d.done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if verbose {
				fmt.Fprintf(os.Stderr, "node %d: %s\n", id, sc.Text())
			}
			if _, rest, ok := strings.Cut(sc.Text(), `replaces; ordering without it" domains=[`); ok {
				// Pebble refused the order (it mislooks up some serials), and
				// the daemon ordered again without "replaces".
				refusedMu.Lock()
				refused[strings.Split(rest, "]")[0]]++
				refusedMu.Unlock()
			}
			if _, rest, ok := strings.Cut(sc.Text(), `msg="ordering certificate" name=`); ok {
				select {
				case d.ordering <- strings.Fields(rest)[0]:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		_ = d.cmd.Wait()
	}()
	return d, nil
}

func (d *daemon) stop() {
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
	}
}

func serials(ctx context.Context, db store.Backend) map[string]string {
	out := map[string]string{}
	certs, _ := db.List(ctx)
	for _, c := range certs {
		if v := c.ActiveVersion(); v != nil {
			out[c.Name] = v.Serial
		}
	}
	return out
}

// waitRenewed waits, woken by the store's watch, until every certificate's
// serial differs from old.
func waitRenewed(ctx context.Context, db store.Backend, old map[string]string) (map[string]string, error) {
	changes := db.(store.Watcher).Watch(ctx)
	for {
		now, left := serials(ctx, db), 0
		for name, s := range old {
			if now[name] == s {
				left++
			}
		}
		if left == 0 {
			return now, nil
		}
		select {
		case <-changes:
		case <-ctx.Done():
			return nil, fmt.Errorf("%d certificates not renewed: %w", left, ctx.Err())
		}
	}
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "127.0.0.1:0"
	}
	defer ln.Close()
	return ln.Addr().String()
}
