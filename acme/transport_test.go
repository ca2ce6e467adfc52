package acme

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestDrained_BodyReadAndClosedBeforeReturn(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			_, _ = io.Copy(w, io.LimitReader(zeros{}, maxResponseBody+1))
			return
		}
		_, _ = io.WriteString(w, "hello")
	}))
	defer srv.Close()
	c := wrapClient(&http.Client{Timeout: time.Minute})
	if c.Timeout != 0 {
		t.Errorf("wrapped client keeps a timeout of %v: net/http would start a timer goroutine per request", c.Timeout)
	}
	resp, err := c.Get(srv.URL + "/small")
	if err != nil {
		t.Fatal(err)
	}
	// The body is already in memory: not closing it leaks nothing, and it
	// still reads whole.
	if b, err := io.ReadAll(resp.Body); err != nil || string(b) != "hello" || resp.ContentLength != 5 {
		t.Errorf("body %q (length %d), %v", b, resp.ContentLength, err)
	}
	if _, err := c.Get(srv.URL + "/big"); err == nil || !strings.Contains(err.Error(), "response larger than") {
		t.Errorf("oversized answer: err = %v", err)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
