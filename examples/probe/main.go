// Command probe makes HTTPS requests in a loop, each on a new connection,
// and reports every change of the certificate serial it is served and every
// failed request. It exits non-zero if any request failed or the serial
// changed fewer times than -changes.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8443", "server address")
	name := flag.String("name", "", "server name (SNI and Host)")
	rootFile := flag.String("root", "", "PEM root to trust")
	changes := flag.Int("changes", 3, "stop after this many serial changes")
	limit := flag.Duration("timeout", 2*time.Minute, "give up after this long")
	flag.Parse()
	root, err := os.ReadFile(*rootFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(2)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(root)
	dialer := &net.Dialer{Timeout: 2 * time.Second}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		TLSClientConfig:   &tls.Config{RootCAs: pool, ServerName: *name},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, *addr)
		},
	}}
	var requests, failures, seen int
	last := ""
	deadline := time.Now().Add(*limit)
	for seen < *changes && time.Now().Before(deadline) {
		requests++
		resp, err := client.Get("https://" + *name + "/")
		if err != nil {
			failures++
			fmt.Printf("request %d FAILED: %v\n", requests, err)
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		serial := fmt.Sprintf("%x", resp.TLS.PeerCertificates[0].SerialNumber)
		if serial != last {
			if last != "" {
				seen++
			}
			fmt.Printf("%s  request %5d  serving serial %s (expires %s)\n", time.Now().Format("15:04:05.000"),
				requests, serial, resp.TLS.PeerCertificates[0].NotAfter.Format(time.TimeOnly))
			last = serial
		}
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Printf("%d requests, %d failed, %d serial changes\n", requests, failures, seen)
	if failures > 0 || seen < *changes {
		os.Exit(1)
	}
}
