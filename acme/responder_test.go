package acme_test

import (
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/certctl/certctl/acme"
)

// Close after the server has served a request returns nil (Shutdown closing
// the already-closed listener again is not an error) and frees the port at
// once; a closed responder's tokens are no longer served from that port.
func TestHTTPResponder_Close_AfterServingFreesPort(t *testing.T) {
	for i := range 300 {
		r := acme.NewHTTPResponder()
		if err := r.Listen("127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		addr := r.Addr()
		_ = r.Present("x.example", "tok", "tok.ka")
		resp, err := http.Get("http://" + addr + "/.well-known/acme-challenge/tok")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "tok.ka" {
			t.Fatalf("served %q", body)
		}
		if err := r.Close(); err != nil {
			t.Fatalf("round %d: Close: %v", i, err)
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("round %d: port still bound after Close: %v", i, err)
		}
		_ = ln.Close()
	}
}
