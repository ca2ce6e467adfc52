package bindings_test

import (
	"context"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/certctl/certctl/bindings"
)

// A server whose certificate can be replaced while it runs.
func ExampleBinder_TLSConfig() {
	b := bindings.New(nil)
	certPEM, err := os.ReadFile("/var/lib/certctl/example.com/fullchain.pem")
	if err != nil {
		log.Fatal(err)
	}
	keyPEM, err := os.ReadFile("/var/lib/certctl/example.com/privkey.pem")
	if err != nil {
		log.Fatal(err)
	}
	if err := b.Set("example.com", certPEM, keyPEM, nil); err != nil {
		log.Fatal(err) // the binder refuses a certificate that does not validate
	}
	srv := &http.Server{Addr: ":443", TLSConfig: b.TLSConfig(bindings.Intermediate)}
	// Certificates come from the binder: no files here. A later b.Set, from a
	// renewal callback, reaches new handshakes at once.
	log.Fatal(srv.ListenAndServeTLS("", ""))
}

// Mutual TLS with a CA pool that can be reloaded.
func ExampleClientAuth() {
	b := bindings.New(nil)
	caPEM, err := os.ReadFile("/etc/myservice/client-ca.pem")
	if err != nil {
		log.Fatal(err)
	}
	ca, err := bindings.NewClientAuth(caPEM)
	if err != nil {
		log.Fatal(err)
	}
	p := bindings.Modern
	p.ClientAuth = ca
	cfg := b.TLSConfig(p)
	cfg.NextProtos = []string{"h2", "http/1.1"}
	srv := &http.Server{Addr: ":8443", TLSConfig: cfg}
	go srv.ListenAndServeTLS("", "")

	// Later: new handshakes verify against the new CAs.
	if err := ca.SetCAs(caPEM); err != nil {
		log.Print(err) // the previous CAs stay in force
	}
}

// Following certificates renewed by another process.
func ExampleBinder_Watch() {
	var src bindings.Source // e.g. certctl.BinderSource(db) of a store opened read-only
	b := bindings.New(nil)
	ctx := context.Background()
	if err := b.Sync(ctx, src); err != nil {
		log.Print(err) // the binder serves whatever did load
	}
	go b.Watch(ctx, src, time.Second)
}
