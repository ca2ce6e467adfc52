// Command fleet-node is one HTTPS server of a fleet, wired by hand from the
// lower-level packages (store, bindings, renew) rather than the certctl
// facade (see examples/https-server for that): it serves every certificate
// of a certctl store (a bbolt file or an etcd:// URL shared by a fleet),
// picking up renewals by any process or node; --manage also renews
// in-process, and --challenges answers the fleet's HTTP-01 challenges.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/certctl/certctl"
	"github.com/certctl/certctl/bindings"
	"github.com/certctl/certctl/renew"
	"github.com/certctl/certctl/store"
)

func main() {
	url := flag.String("store", store.DefaultPath(), "certctl store: a file or etcd://host:port/prefix")
	listen := flag.String("listen", "127.0.0.1:8443", "HTTPS address")
	challenges := flag.String("challenges", "", "HTTP address answering the fleet's HTTP-01 challenges (empty: none)")
	manage := flag.Bool("manage", false, "also run the renewal manager in this process")
	debug := flag.Bool("debug", false, "log every certificate installed")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	fail := func(msg string, err error) { log.Error(msg, "err", err); os.Exit(1) }
	// The store key, if the store is sealed: CERTCTL_STORE_KEY_FILE or the
	// systemd credential certctl-store-key, as certctl reads it.
	key, err := store.SealKeyFromEnv(os.Getenv)
	if err != nil {
		fail("store key", err)
	}
	db, err := store.OpenURL(ctx, *url, &store.Options{SealKey: key})
	if err != nil {
		fail("opening store", err)
	}
	defer db.Close()
	binder := bindings.New(&bindings.Options{Logger: log})
	src := certctl.BinderSource(db)        // pushes changes when the store is etcd
	_ = binder.Sync(ctx, src)              // failures are logged; good certificates serve
	go binder.Watch(ctx, src, time.Second) // renewals by the CLI, a daemon or another node
	if *manage {
		svc := &renew.Service{Store: db, Logger: log, OnRenewed: func(_ context.Context, c *store.Certificate) {
			v := c.ActiveVersion()
			_ = binder.Set(c.Name, v.Fullchain(), v.KeyPEM, c.Domains)
		}}
		go (&renew.Manager{Service: svc}).Run(ctx)
	}
	if *challenges != "" {
		ch := &http.Server{Addr: *challenges, Handler: certctl.ChallengeHandler(db, nil), ReadHeaderTimeout: 10 * time.Second}
		go func() { <-ctx.Done(); _ = ch.Close() }()
		go func() {
			if err := ch.ListenAndServe(); err != http.ErrServerClosed {
				fail("serving challenges", err)
			}
		}()
	}
	cfg := binder.TLSConfig(bindings.Intermediate)
	if err := certctl.ShareSessionTickets(ctx, db, cfg); err != nil { // resumption on any node
		fail("session tickets", err)
	}
	srv := &http.Server{Addr: *listen, TLSConfig: cfg, ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "hello from %s, serial %s\n", r.TLS.ServerName, binder.Serial(r.TLS.ServerName))
		})}
	go func() { <-ctx.Done(); _ = srv.Shutdown(context.Background()) }()
	ln, err := net.Listen("tcp", *listen)
	if err == nil {
		log.Info("serving", "addr", ln.Addr().String(), "certificates", len(binder.Names()))
		err = srv.ServeTLS(ln, "", "")
	}
	if err != http.ErrServerClosed {
		fail("serving", err)
	}
}
