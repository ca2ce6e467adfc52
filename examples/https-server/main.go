// Command https-server serves HTTPS with every certificate of a certctl
// store, picking up renewals by any process; --manage also renews in-process.
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
	path := flag.String("store", store.DefaultPath(), "certctl store")
	listen := flag.String("listen", "127.0.0.1:8443", "HTTPS address")
	manage := flag.Bool("manage", false, "also run the renewal manager in this process")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	// The store key, if the store is sealed: CERTCTL_STORE_KEY_FILE or the
	// systemd credential certctl-store-key, as certctl reads it.
	key, err := store.SealKeyFromEnv(os.Getenv)
	if err != nil {
		log.Error("store key", "err", err)
		os.Exit(1)
	}
	db, err := store.Open(*path, &store.Options{SealKey: key})
	if err != nil {
		log.Error("opening store", "err", err)
		os.Exit(1)
	}
	binder := bindings.New(&bindings.Options{Logger: log})
	src := certctl.BinderSource(db)
	_ = binder.Sync(ctx, src)              // failures are logged; good certificates serve
	go binder.Watch(ctx, src, time.Second) // renewals by the CLI or a daemon
	if *manage {
		svc := &renew.Service{Store: db, Logger: log, OnRenewed: func(_ context.Context, c *store.Certificate) {
			v := c.ActiveVersion()
			_ = binder.Set(c.Name, v.Fullchain(), v.KeyPEM, c.Domains)
		}}
		go (&renew.Manager{Service: svc}).Run(ctx)
	}
	srv := &http.Server{Addr: *listen, TLSConfig: binder.TLSConfig(bindings.Intermediate),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "hello from %s, serial %s\n", r.TLS.ServerName, binder.Serial(r.TLS.ServerName))
		})}
	go func() { <-ctx.Done(); _ = srv.Shutdown(context.Background()) }()
	ln, err := net.Listen("tcp", *listen)
	if err == nil {
		log.Info("serving", "addr", ln.Addr().String(), "certificates", binder.Names())
		err = srv.ServeTLS(ln, "", "")
	}
	if err != http.ErrServerClosed {
		log.Error("serving", "err", err)
		os.Exit(1)
	}
}
