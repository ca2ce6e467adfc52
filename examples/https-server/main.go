// Command https-server serves HTTPS for the names given as arguments, with
// certificates certctl obtains, keeps in its store and renews in-process;
// the HTTP port answers HTTP-01 and redirects to HTTPS.
//
//	go run ./examples/https-server --email ops@example.com --agree-tos example.com www.example.com
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/certctl/certctl"
)

func main() {
	cfg := &certctl.Config{}
	flag.StringVar(&cfg.Store, "store", "", "certctl store path or URL (default: certctl's default path)")
	flag.StringVar(&cfg.Directory, "directory", "", "ACME directory URL or shortcut (default: Let's Encrypt)")
	flag.StringVar(&cfg.Email, "email", "", "ACME account email")
	flag.BoolVar(&cfg.AgreeTOS, "agree-tos", false, "agree to the CA's terms of service")
	flag.StringVar(&cfg.HTTPSAddr, "https", ":443", "HTTPS address")
	flag.StringVar(&cfg.HTTPAddr, "http", ":80", "HTTP address: HTTP-01 and redirects")
	flag.Parse()
	if flag.NArg() == 0 {
		log.Fatal("https-server: no names to serve (give them as arguments)")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := certctl.HTTPS(ctx, cfg, flag.Args(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s\n", r.TLS.ServerName)
	}))
	if err != nil {
		log.Fatal(err)
	}
}
