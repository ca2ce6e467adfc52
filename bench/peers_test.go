package bench

// This file measures certctl's peers, not certctl: lego v4 used directly as
// a library and certbot, each issuing new certificates against the same
// in-process Pebble and at the same CA latency as BenchmarkApply50New, so
// that bench/run.sh can print certctl apply against them as ratios of one
// run (issue 12). It is the one place outside acme/ that uses lego types:
// here lego is the subject of the measurement, not a dependency of certctl.

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	stdlog "log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/go-acme/lego/v4/certcrypto"
	"github.com/go-acme/lego/v4/certificate"
	"github.com/go-acme/lego/v4/challenge"
	"github.com/go-acme/lego/v4/challenge/http01"
	"github.com/go-acme/lego/v4/lego"
	legolog "github.com/go-acme/lego/v4/log"
	"github.com/go-acme/lego/v4/registration"

	"github.com/certctl/certctl/internal/acmetest"
)

// legoGoroutines is the number of goroutines of BenchmarkPeerLego50, as in
// issue 12's lego figure.
const legoGoroutines = 8

// legoUser is the registration.User a lego program supplies: an account key
// and, once registered, its registration.
type legoUser struct {
	key crypto.PrivateKey
	reg *registration.Resource
}

// GetEmail returns no contact address.
func (u *legoUser) GetEmail() string { return "" }

// GetRegistration returns the account, nil before it is registered.
func (u *legoUser) GetRegistration() *registration.Resource { return u.reg }

// GetPrivateKey returns the account key.
func (u *legoUser) GetPrivateKey() crypto.PrivateKey { return u.key }

// serialProvider shares one http01.ProviderServer between goroutines. The
// provider server listens on the port from Present to CleanUp, so two
// challenges at once would collide on it ("address already in use"); a lego
// program with several goroutines on one port has to take turns like this.
type serialProvider struct {
	mu sync.Mutex
	ps *http01.ProviderServer
}

// Present waits for the port and serves the token on it.
func (p *serialProvider) Present(domain, token, keyAuth string) error {
	p.mu.Lock()
	if err := p.ps.Present(domain, token, keyAuth); err != nil {
		p.mu.Unlock()
		return err
	}
	return nil
}

// CleanUp stops serving the token and hands the port on.
func (p *serialProvider) CleanUp(domain, token, keyAuth string) error {
	defer p.mu.Unlock()
	return p.ps.CleanUp(domain, token, keyAuth)
}

// sharedResponder is the http-01 provider a lego program with many
// goroutines would write for itself: one HTTP server on the port answering
// every pending token, so that challenges of several goroutines overlap.
type sharedResponder struct {
	mu     sync.Mutex
	tokens map[string]string // path to key authorization
	srv    *http.Server
	done   chan struct{}
}

func newSharedResponder(b *testing.B, addr string) *sharedResponder {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	r := &sharedResponder{tokens: make(map[string]string), done: make(chan struct{})}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(r.done)
		_ = r.srv.Serve(ln)
	}()
	b.Cleanup(func() {
		_ = r.srv.Close()
		<-r.done
	})
	return r
}

// ServeHTTP answers a pending token's path with its key authorization.
func (r *sharedResponder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	ka, ok := r.tokens[req.URL.Path]
	r.mu.Unlock()
	if !ok {
		http.NotFound(w, req)
		return
	}
	_, _ = io.WriteString(w, ka)
}

// Present adds the token to those served.
func (r *sharedResponder) Present(_, token, keyAuth string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tokens[http01.ChallengePath(token)] = keyAuth
	return nil
}

// CleanUp removes the token.
func (r *sharedResponder) CleanUp(_, token, _ string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.tokens, http01.ChallengePath(token))
	return nil
}

// verifyLeaf fails b unless chainPEM (leaf first) holds a certificate for
// name that verifies against srv's issuing root.
func verifyLeaf(b *testing.B, srv *acmetest.Server, name string, chainPEM []byte) {
	b.Helper()
	roots, err := srv.Roots()
	if err != nil {
		b.Fatal(err)
	}
	var certs []*x509.Certificate
	for rest := chainPEM; ; {
		var blk *pem.Block
		if blk, rest = pem.Decode(rest); blk == nil {
			break
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			b.Fatalf("%s: parsing its chain: %v", name, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		b.Fatalf("%s: no certificate in %q", name, chainPEM)
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if _, err := certs[0].Verify(x509.VerifyOptions{DNSName: name, Roots: roots, Intermediates: inter}); err != nil {
		b.Fatalf("%s: %v", name, err)
	}
	if _, ok := certs[0].PublicKey.(*ecdsa.PublicKey); !ok {
		b.Fatalf("%s: a %T key, not P-256", name, certs[0].PublicKey)
	}
}

// legoObtain50 is what a lego program issuing 50 new certificates with
// goroutines goroutines does: a new account key, lego.NewConfig, a
// registered account, then the goroutines each obtaining its share of names
// with client.Certificate.Obtain over provider. It returns the certificates
// by name.
func legoObtain50(b *testing.B, srv *acmetest.Server, names []string, provider challenge.Provider, goroutines int) map[string][]byte {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	user := &legoUser{key: key}
	cfg := lego.NewConfig(user)
	cfg.CADirURL = srv.DirectoryURL()
	cfg.HTTPClient = srv.HTTPClient() // trusts the endpoint's private CA
	cfg.Certificate.KeyType = certcrypto.EC256
	client, err := lego.NewClient(cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := client.Challenge.SetHTTP01Provider(provider); err != nil {
		b.Fatal(err)
	}
	if user.reg, err = client.Registration.Register(registration.RegisterOptions{TermsOfServiceAgreed: true}); err != nil {
		b.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		certs = make(map[string][]byte, len(names))
		errs  []error
	)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < len(names); i += goroutines {
				res, err := client.Certificate.Obtain(certificate.ObtainRequest{Domains: []string{names[i]}, Bundle: true})
				mu.Lock()
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", names[i], err))
				} else {
					certs[names[i]] = res.Certificate
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		b.Fatalf("lego: %d of %d failed, first: %v", len(errs), len(names), errs[0])
	}
	return certs
}

// BenchmarkPeerLego50 measures lego v4 as a library, not certctl: 50 new
// P-256 certificates with 8 goroutines sharing one lego client (issue 12's
// lego figure), http-01 on the port the harness's Pebble dials, at
// applyLatency of CA latency like BenchmarkApply50New, a new account each
// run (apply registers one too). Sub-benchmarks: providerserver is lego's
// own http01.ProviderServer, which binds the port for one challenge at a
// time, so the goroutines take turns with it; shared is a responder of the
// program's own serving every pending token from one server, lego's best
// case; shared-32 is the same with 32 goroutines, the concurrency of
// certctl apply's default 32 workers. lego-s is the wall time of one run,
// account included.
func BenchmarkPeerLego50(b *testing.B) {
	legolog.Logger = stdlog.New(io.Discard, "", 0)
	providerServer := func(_ *testing.B, addr string) challenge.Provider {
		host, port, _ := net.SplitHostPort(addr)
		return &serialProvider{ps: http01.NewProviderServer(host, port)}
	}
	shared := func(b *testing.B, addr string) challenge.Provider { return newSharedResponder(b, addr) }
	providers := []struct {
		name       string
		make       func(b *testing.B, addr string) challenge.Provider
		goroutines int
	}{
		{"providerserver", providerServer, legoGoroutines},
		{"shared", shared, legoGoroutines},
		{"shared-32", shared, 32},
	}
	for _, p := range providers {
		b.Run(fmt.Sprintf("latency=%s/%s", applyLatency, p.name), func(b *testing.B) {
			srv := acmetest.StartT(b, acmetest.Options{ValidationLatency: applyLatency})
			provider := p.make(b, "127.0.0.1:"+strconv.Itoa(srv.HTTPPort()))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				names := make([]string, bulkNames)
				for j := range names {
					names[j] = fmt.Sprintf("lego-%s-%d-%d.example", p.name, i, j)
				}
				b.StartTimer()
				start := time.Now()
				certs := legoObtain50(b, srv, names, provider, p.goroutines)
				d := time.Since(start)
				b.StopTimer()
				for _, n := range names {
					verifyLeaf(b, srv, n, certs[n])
				}
				b.StartTimer()
				b.ReportMetric(d.Seconds(), "lego-s")
			}
		})
	}
}

// certbotNames is the number of names of BenchmarkPeerCertbot50:
// CERTCTL_BENCH_CERTBOT_NAMES, default bulkNames (50).
func certbotNames(b *testing.B) int {
	s := os.Getenv("CERTCTL_BENCH_CERTBOT_NAMES")
	if s == "" {
		return bulkNames
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		b.Fatalf("CERTCTL_BENCH_CERTBOT_NAMES: want a positive integer, not %q", s)
	}
	return n
}

// BenchmarkPeerCertbot50 measures certbot, not certctl: one `certbot
// certonly --standalone` process per name, one at a time (how issue 12's
// 155.7 s for 50 names was made), ECDSA P-256 keys, against the in-process
// Pebble at applyLatency of CA latency like BenchmarkApply50New, with a
// fresh config directory (so the first process registers the account) each
// run. It runs only when certbot is on PATH (Debian: apt-get install
// certbot). CERTCTL_BENCH_CERTBOT_NAMES=N issues N names instead of 50
// (certbot takes seconds per name). Metrics: certbot-s, the wall time of
// the N processes; per-cert-s; certbot50-s, per-cert-s x 50.
func BenchmarkPeerCertbot50(b *testing.B) {
	bin, err := exec.LookPath("certbot")
	if err != nil {
		b.Skip("certbot is not on PATH (apt-get install certbot): no certbot baseline in this run")
	}
	n := certbotNames(b)
	b.Run("latency="+applyLatency.String(), func(b *testing.B) {
		srv := acmetest.StartT(b, acmetest.Options{ValidationLatency: applyLatency})
		caFile := filepath.Join(b.TempDir(), "pebble-endpoint-ca.pem")
		if err := os.WriteFile(caFile, srv.ServerCAPEM(), 0o600); err != nil {
			b.Fatal(err)
		}
		env := append(os.Environ(), "REQUESTS_CA_BUNDLE="+caFile)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			dir := b.TempDir()
			names := make([]string, n)
			for j := range names {
				names[j] = fmt.Sprintf("certbot-%d-%d.example", i, j)
			}
			b.StartTimer()
			start := time.Now()
			for _, name := range names {
				cmd := exec.Command(bin, "certonly", "--standalone", "--non-interactive", "--agree-tos",
					"--register-unsafely-without-email", "--server", srv.DirectoryURL(),
					"--http-01-port", strconv.Itoa(srv.HTTPPort()), "--http-01-address", "127.0.0.1",
					"--config-dir", filepath.Join(dir, "config"), "--work-dir", filepath.Join(dir, "work"),
					"--logs-dir", filepath.Join(dir, "logs"),
					"--key-type", "ecdsa", "--elliptic-curve", "secp256r1", "--cert-name", name, "-d", name)
				cmd.Env = env
				var out bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &out
				if err := cmd.Run(); err != nil {
					b.Fatalf("certbot for %s: %v\n%s", name, err, out.String())
				}
			}
			d := time.Since(start)
			b.StopTimer()
			for _, name := range names {
				chain, err := os.ReadFile(filepath.Join(dir, "config", "live", name, "fullchain.pem"))
				if err != nil {
					b.Fatal(err)
				}
				verifyLeaf(b, srv, name, chain)
			}
			b.StartTimer()
			per := d.Seconds() / float64(n)
			if i == 0 && n != bulkNames {
				b.Logf("certbot: %d names (CERTCTL_BENCH_CERTBOT_NAMES) in %.1f s, %.2f s each; certbot50-s is scaled to %d", n, d.Seconds(), per, bulkNames)
			}
			b.ReportMetric(d.Seconds(), "certbot-s")
			b.ReportMetric(float64(n), "names")
			b.ReportMetric(per, "per-cert-s")
			b.ReportMetric(per*bulkNames, "certbot50-s")
		}
	})
}
