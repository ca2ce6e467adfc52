package renew_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/certctl/certctl/renew"
)

// lockedBuffer is a log sink safe for the notifier's goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestNotifier_SecretURL_NeverLogged delivers to webhooks that fail in the
// ways whose Go errors quote the URL, and checks that the log keeps the
// scheme and host only.
func TestNotifier_SecretURL_NeverLogged(t *testing.T) {
	const secretPath = "/services/T0123/B0456/s3cr3t-token-path"
	const secretQuery = "sig=s3cr3t-query"
	// A port nothing listens on: the connection is refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := ln.Addr().String()
	ln.Close()
	// An HTTP server reached over https: a TLS error.
	plain := httptest.NewServer(http.NotFoundHandler())
	defer plain.Close()
	plainAddr := strings.TrimPrefix(plain.URL, "http://")

	for _, tt := range []struct{ name, url, host string }{
		{"connection refused", "http://hookuser:s3cr3t-password@" + closedAddr + secretPath + "?" + secretQuery, "http://" + closedAddr},
		{"TLS to a plain server", "https://" + plainAddr + secretPath + "?" + secretQuery, "https://" + plainAddr},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var logs lockedBuffer
			n := &renew.Notifier{URL: tt.url, Backoff: 1, MaxAttempts: 2,
				Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
			n.Notify(renew.Notification{Event: renew.NotifyRenewalFailed, Name: "www"})
			if err := n.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			out := logs.String()
			if !strings.Contains(out, "notification dropped") {
				t.Fatalf("no failure logged:\n%s", out)
			}
			for _, secret := range []string{"s3cr3t-token-path", "s3cr3t-query", "s3cr3t-password", "hookuser"} {
				if strings.Contains(out, secret) {
					t.Errorf("log holds %q:\n%s", secret, out)
				}
			}
			if !strings.Contains(out, tt.host+"/…") {
				t.Errorf("log does not name the webhook as %s/…:\n%s", tt.host, out)
			}
		})
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://hooks.example/services/T0/B0/XYZ": "https://hooks.example/…",
		"https://u:p@hooks.example:8443/x?sig=1":   "https://hooks.example:8443/…",
		"https://hooks.example":                    "https://hooks.example",
		"https://hooks.example/":                   "https://hooks.example/",
		"https://hooks.example?token=1":            "https://hooks.example/…",
		"http://[::1]:9/a#frag":                    "http://[::1]:9/…",
		"not a url\x7f":                            "(invalid URL)",
		"":                                         "",
	} {
		if got := renew.RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
