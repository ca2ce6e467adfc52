package cli_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	certctl "github.com/certctl/certctl"
	"github.com/certctl/certctl/acme"
	"github.com/certctl/certctl/bindings"
	"github.com/certctl/certctl/internal/acmetest"
	"github.com/certctl/certctl/store"
)

// crashIterations is how many processes the crash drill kills: a short run
// in `make test`, 100 under `make soak` (CERTCTL_SOAK=1).
func crashIterations() int {
	if os.Getenv("CERTCTL_SOAK") != "" {
		return 100
	}
	return 8
}

// crashPhases are the debug log lines of a renewal, in order; the last one
// a killed process printed says where the kill landed.
var crashPhases = []string{`msg=ordering`, `msg=committing`, `msg=deploying`, `msg="certificate renewed"`}

// Crash drill: `certctl renew --force` or the daemon, over several
// certificates with file exports, is killed with SIGKILL after a random
// delay, again and again. After every kill the store opens, every active
// version validates against the CA's root with its key and names, no record
// holds more than five versions, no lock is left held, the exports are
// whole (no temporary file, each key matching its certificate), and a
// binder following the store never served an invalid certificate.
func TestCrash_KilledRenewalsLeaveAConsistentState(t *testing.T) {
	n := crashIterations()
	h := newHarness(t, acmetest.Options{})
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"k1.example", "k2.example", "k3.example"}
	exports := t.TempDir()
	for _, name := range names {
		h.mustRun("issue", "-d", name, "--http-addr", h.httpAddr(), "--agree-tos", "--export", exports)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(h.root)

	// A binder follows the store and is probed all along.
	db, err := store.Open(h.store, nil)
	if err != nil {
		t.Fatal(err)
	}
	binder := bindings.New(nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := binder.Sync(ctx, certctl.BinderSource(db)); err != nil {
		t.Fatal(err)
	}
	go func() { _ = binder.Watch(ctx, certctl.BinderSource(db), 20*time.Millisecond) }()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{GetCertificate: binder.GetCertificate})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _ = c.(*tls.Conn).Handshake(); _ = c.Close() }()
		}
	}()
	var probes, badProbes atomic.Int64
	var badMu sync.Mutex
	var bad []string
	probeDone := make(chan struct{})
	go func() {
		defer close(probeDone)
		for i := 0; ctx.Err() == nil; i++ {
			name := names[i%len(names)]
			d := &net.Dialer{Timeout: 2 * time.Second}
			conn, err := tls.DialWithDialer(d, "tcp", ln.Addr().String(), &tls.Config{ServerName: name, RootCAs: roots})
			if ctx.Err() != nil {
				return
			}
			probes.Add(1)
			if err != nil {
				badProbes.Add(1)
				badMu.Lock()
				bad = append(bad, name+": "+err.Error())
				badMu.Unlock()
				continue
			}
			_ = conn.Close()
		}
	}()

	phases := map[string]int{}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	for i := range n {
		daemon := i%2 == 1
		args := append(h.globals(), "--log-level", "debug")
		if daemon {
			for _, name := range names {
				h.makeDue(t, db, name)
			}
			args = append(args, "daemon", "--http-addr", h.httpAddr(), "--schedule", "@every 1h")
		} else {
			args = append(args, "renew", "--force")
		}
		cmd := exec.Command(bin, args...)
		stderr, _ := cmd.StderrPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		last := make(chan string, 1)
		go func() {
			seen := "start"
			sc := bufio.NewScanner(stderr)
			for sc.Scan() {
				for _, p := range crashPhases {
					if strings.Contains(sc.Text(), p) {
						seen = strings.Trim(strings.TrimPrefix(p, "msg="), `"`)
					}
				}
			}
			last <- seen
		}()
		delay := time.Duration(rng.Int64N(int64(2 * time.Second)))
		kill := time.AfterFunc(delay, func() { _ = cmd.Process.Signal(syscall.SIGKILL) })
		werr := cmd.Wait()
		killed := !kill.Stop()
		phase := <-last
		if !killed {
			if werr != nil {
				t.Fatalf("run %d (%v) failed on its own: %v", i, args[len(h.globals()):], werr)
			}
			phase = "finished before the kill"
		}
		phases[phase]++
		if checkAfterCrash(t, h, i, names, exports, roots) > 0 {
			phases["left a temporary file"]++
		}
	}
	// One renewal that is not killed leaves whole exports and no temporary
	// file behind.
	h.mustRun("renew", "--force")
	if n := checkAfterCrash(t, h, n, names, exports, roots); n > 0 {
		t.Errorf("%d temporary files remain after a completed export", n)
	}
	if entries, _ := os.ReadDir(exports); len(entries) != len(names) {
		t.Errorf("export directory holds leftovers: %v", entries)
	}
	cancel()
	<-probeDone
	if badProbes.Load() > 0 {
		t.Errorf("the binder served %d invalid answers in %d handshakes: %v", badProbes.Load(), probes.Load(), bad[:min(len(bad), 5)])
	}
	t.Logf("%d kills; phase of each kill: %v; %d handshakes with the binder, all valid", n, phases, probes.Load())
}

// checkAfterCrash checks the store and the exports after the i-th kill.
func checkAfterCrash(t *testing.T, h *harness, i int, names []string, exports string, roots *x509.CertPool) (leftovers int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := store.Open(h.store, nil)
	if err != nil {
		t.Fatalf("kill %d: the store does not open: %v", i, err)
	}
	for _, name := range names {
		c, err := db.Get(ctx, name)
		if err != nil {
			t.Fatalf("kill %d: %s: %v", i, name, err)
		}
		if len(c.Versions) > store.MaxVersions {
			t.Fatalf("kill %d: %s has %d versions", i, name, len(c.Versions))
		}
		v := c.ActiveVersion()
		if v == nil {
			t.Fatalf("kill %d: %s has no active version", i, name)
		}
		pc, err := acme.ParseCertificate(v.Fullchain(), v.KeyPEM)
		if err != nil {
			t.Fatalf("kill %d: %s: active version: %v", i, name, err)
		}
		inter := x509.NewCertPool()
		for _, ic := range pc.Chain {
			inter.AddCert(ic)
		}
		if _, err := pc.Leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: name}); err != nil {
			t.Fatalf("kill %d: %s: active version does not verify: %v", i, name, err)
		}
		// No lock is left held: a process's locks die with it.
		unlock, ok, err := db.TryLock(ctx, name)
		if err != nil || !ok {
			t.Fatalf("kill %d: %s: lock still held (%v)", i, name, err)
		}
		unlock()
		// The export is whole: no temporary file, a key that matches its
		// certificate.
		dir := filepath.Join(exports, name)
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatalf("kill %d: %v", i, err)
		}
		for _, e := range entries {
			if strings.Contains(e.Name(), ".tmp-") {
				// A kill while staging leaves a hidden temporary file
				// (the exported files themselves are whole); the next
				// export removes it, as checked at the end.
				leftovers++
			}
		}
		cert, err1 := os.ReadFile(filepath.Join(dir, "fullchain.pem"))
		key, err2 := os.ReadFile(filepath.Join(dir, "privkey.pem"))
		if err1 != nil || err2 != nil {
			t.Fatalf("kill %d: %s: export: %v %v", i, name, err1, err2)
		}
		if _, err := tls.X509KeyPair(cert, key); err != nil {
			t.Fatalf("kill %d: %s: exported key does not match its certificate: %v", i, name, err)
		}
	}
	return leftovers
}
