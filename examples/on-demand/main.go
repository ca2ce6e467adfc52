// Command on-demand is a multi-tenant HTTPS server: a tenant's name gets its
// certificate during the first handshake for it, if the name is listed in
// the allow-list file (one name per line, # for comments; read again for
// every new name, so tenants are added without a restart). Certificates are
// kept in the store and renewed in the background; the HTTP port answers
// HTTP-01 challenges and redirects to HTTPS.
//
//	go run ./examples/on-demand --allow tenants.txt --email ops@example.com --agree-tos
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/certctl/certctl"
)

func main() {
	cfg := &certctl.Config{}
	allow := flag.String("allow", "tenants.txt", "allow-list file: one name per line")
	flag.StringVar(&cfg.Store, "store", "", "certctl store path or URL (default: certctl's default path)")
	flag.StringVar(&cfg.Directory, "directory", "letsencrypt-staging", "ACME directory URL or shortcut")
	flag.StringVar(&cfg.Email, "email", "", "ACME account email")
	flag.BoolVar(&cfg.AgreeTOS, "agree-tos", false, "agree to the CA's terms of service")
	flag.StringVar(&cfg.HTTPSAddr, "https", ":443", "HTTPS address")
	flag.StringVar(&cfg.HTTPAddr, "http", ":80", "HTTP address (challenges, redirects)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg.Logger = log
	cfg.OnEvent = func(e certctl.Event) {
		log.Info("certificate "+string(e.Type), "name", e.Name, "serial", e.Serial, "err", e.Err)
	}
	cfg.OnDemand = &certctl.OnDemand{Allow: func(_ context.Context, name string) error { return listed(*allow, name) }}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := certctl.HTTPS(ctx, cfg, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello, tenant %s\n", r.TLS.ServerName)
	}))
	if err != nil {
		log.Error("serving", "err", err)
		os.Exit(1)
	}
}

// listed returns nil if name is a line of the file at path.
func listed(path, name string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		if strings.EqualFold(strings.TrimSpace(line), name) {
			return nil
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return fmt.Errorf("%s is not in %s", name, path)
}
