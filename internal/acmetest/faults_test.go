package acmetest

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// postNewOrder sends an unsigned newOrder POST (the fault layer acts before
// Pebble checks the signature).
func postNewOrder(c *http.Client, s *Server) (*http.Response, error) {
	body := `{"protected":"e30","payload":"eyJpZGVudGlmaWVycyI6W3sidHlwZSI6ImRucyIsInZhbHVlIjoiZi5leGFtcGxlIn1dfQ","signature":""}`
	return c.Post(strings.TrimSuffix(s.DirectoryURL(), "/dir")+newOrderPath, "application/jose+json", strings.NewReader(body))
}

// Injected faults answer as configured and are logged with the names of
// the order they hit.
func TestServer_Faults(t *testing.T) {
	s := StartT(t, Options{})
	c := s.HTTPClient()

	s.SetFaults(Faults{RateLimited: 1, RetryAfter: 3 * time.Second})
	resp, err := postNewOrder(c, s)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "3" || !strings.Contains(string(b), "rateLimited") {
		t.Fatalf("rate limit: %d %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), b)
	}
	reqs := s.Requests()
	if len(reqs) != 1 || reqs[0].Fault != "rate_limited" || len(reqs[0].Names) != 1 || reqs[0].Names[0] != "f.example" {
		t.Fatalf("log: %+v", reqs)
	}

	s.SetFaults(Faults{Drop: 1})
	if _, err := c.Get(s.DirectoryURL()); err == nil {
		t.Fatal("a dropped request got an answer")
	}
	s.SetFaults(Faults{ServerError: 1})
	resp, err = c.Get(s.DirectoryURL())
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("server error: %d", resp.StatusCode)
	}

	// Management requests are never touched, and no faults means none.
	s.SetFaults(Faults{})
	resp, err = c.Get(s.DirectoryURL())
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || s.Requests()[0].Fault != "" {
		t.Fatalf("no faults: %d %+v", resp.StatusCode, s.Requests())
	}
}
