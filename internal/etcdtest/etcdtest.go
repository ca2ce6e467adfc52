// Package etcdtest starts a real single-member etcd inside a test process,
// for the etcd backend's tests, the fleet tests and the fleet demo. It
// embeds go.etcd.io/etcd/server/v3; only tests and examples import it, so
// the certctl binary does not carry the server.
//
// One type: [Server], started with [Start] (or [StartT] in a test) on free
// loopback ports in its own data directory. It can be stopped and started
// again on the same ports and data (outage tests) and compacted (watch
// resume tests).
package etcdtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// startTimeout bounds how long Start waits for the member to be ready.
const startTimeout = 30 * time.Second

// Server is one embedded etcd member listening on 127.0.0.1.
type Server struct {
	dir        string
	clientPort int
	peerPort   int

	mu sync.Mutex
	e  *embed.Etcd // nil while stopped
}

// TB is the part of testing.TB that StartT uses.
type TB interface {
	Helper()
	TempDir() string
	Cleanup(func())
	Fatalf(format string, args ...any)
}

// StartT starts a server in a temporary directory of t and stops it when t
// ends.
func StartT(t TB) *Server {
	t.Helper()
	s, err := Start(t.TempDir())
	if err != nil {
		t.Fatalf("etcd: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Start starts a member with its data in dir (created if missing) on two
// free loopback ports.
func Start(dir string) (*Server, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir, clientPort: ports[0], peerPort: ports[1]}
	if err := s.Restart(); err != nil {
		return nil, err
	}
	return s, nil
}

// Endpoint is the member's client URL, http://127.0.0.1:PORT.
func (s *Server) Endpoint() string { return "http://127.0.0.1:" + strconv.Itoa(s.clientPort) }

// HostPort is the member's client address, 127.0.0.1:PORT.
func (s *Server) HostPort() string { return "127.0.0.1:" + strconv.Itoa(s.clientPort) }

// StoreURL is the certctl store URL of prefix on this member,
// etcd://127.0.0.1:PORT/PREFIX.
func (s *Server) StoreURL(prefix string) string { return "etcd://" + s.HostPort() + "/" + prefix }

// Restart starts the member again after Stop, on the same ports and data.
// It does nothing if the member is running.
func (s *Server) Restart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.e != nil {
		return nil
	}
	cfg := embed.NewConfig()
	cfg.Name = "certctl-test"
	cfg.Dir = s.dir
	cu := url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(s.clientPort)}
	pu := url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(s.peerPort)}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{cu}, []url.URL{cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{pu}, []url.URL{pu}
	cfg.InitialCluster = cfg.Name + "=" + pu.String()
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	// Tests need no durability against power loss, and fsync dominates on
	// a loaded machine.
	cfg.UnsafeNoFsync = true
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("etcd %s: %w", s.dir, err)
	}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return fmt.Errorf("etcd %s: starting: %w", cu.Host, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return fmt.Errorf("etcd %s: %w", cu.Host, err)
	case <-time.After(startTimeout):
		e.Close()
		return fmt.Errorf("etcd %s: not ready after %s", cu.Host, startTimeout)
	}
	s.e = e
	return nil
}

// Stop stops the member; its data and ports are kept for Restart. Calling
// it on a stopped member does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.e != nil {
		s.e.Close()
		s.e = nil
	}
}

// Client returns a new client of the member; the caller closes it.
func (s *Server) Client() (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{
		Endpoints:   []string{s.Endpoint()},
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
}

// Compact compacts the member's history up to its current revision, so a
// watch from an older revision is told it was compacted.
func (s *Server) Compact(ctx context.Context) (rev int64, err error) {
	cli, err := s.Client()
	if err != nil {
		return 0, err
	}
	defer cli.Close()
	resp, err := cli.Get(ctx, "certctl-test-compact")
	if err != nil {
		return 0, fmt.Errorf("etcd %s: reading the revision: %w", s.HostPort(), err)
	}
	rev = resp.Header.Revision
	if _, err := cli.Compact(ctx, rev, clientv3.WithCompactPhysical()); err != nil {
		return 0, fmt.Errorf("etcd %s: compacting to %d: %w", s.HostPort(), rev, err)
	}
	return rev, nil
}

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			_ = ln.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, errors.Join(errors.New("etcd: no free loopback port"), err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
