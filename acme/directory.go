package acme

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// Directory URLs behind the shortcuts that [ResolveDirectory] knows.
const (
	LetsEncrypt        = "https://acme-v02.api.letsencrypt.org/directory"
	LetsEncryptStaging = "https://acme-staging-v02.api.letsencrypt.org/directory"
	ZeroSSL            = "https://acme.zerossl.com/v2/DV90"
	GoogleTrust        = "https://dv.acme-v02.api.pki.goog/directory"
)

var shortcuts = map[string]string{
	"letsencrypt":         LetsEncrypt,
	"letsencrypt-staging": LetsEncryptStaging,
	"zerossl":             ZeroSSL,
	"google":              GoogleTrust,
}

// ResolveDirectory turns a shortcut (letsencrypt, letsencrypt-staging,
// zerossl, google) or an http(s) URL into a directory URL. An empty string
// means Let's Encrypt production.
func ResolveDirectory(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return LetsEncrypt, nil
	}
	if u, ok := shortcuts[strings.ToLower(s)]; ok {
		return u, nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("%q: %w: want a URL or one of letsencrypt, letsencrypt-staging, zerossl, google", s, ErrBadDirectory)
	}
	return u.String(), nil
}

// NewHTTPClient returns the HTTP client certctl uses to talk to a CA. If
// caPEM is not empty, the CA's HTTPS endpoint is trusted through those
// certificates in addition to the system roots (for private ACME servers).
func NewHTTPClient(caPEM []byte) (*http.Client, error) {
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(caPEM) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, fmt.Errorf("CA certificate: no PEM certificate found")
		}
		tlsConf.RootCAs = pool
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsConf,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
	}
	return &http.Client{Timeout: time.Minute, Transport: tr}, nil
}

// LoadCACert reads a PEM file of CA certificates for [NewHTTPClient].
func LoadCACert(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("CA certificate %s: %w", path, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxCACertFile+1))
	if err != nil {
		return nil, fmt.Errorf("CA certificate %s: %w", path, err)
	}
	if len(b) > maxCACertFile {
		return nil, fmt.Errorf("CA certificate %s: larger than %d KiB, not a CA bundle", path, maxCACertFile>>10)
	}
	if !x509.NewCertPool().AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("CA certificate %s: no PEM certificate found", path)
	}
	return b, nil
}

// maxCACertFile bounds the size of a CA bundle file (the system's whole
// bundle is about 200 KiB).
const maxCACertFile = 1 << 20

// pollHint is a RoundTripper that adds "Retry-After: 1" to answers to POSTs
// that carry none. lego reads Retry-After only from a challenge response,
// and without one it waits 5 seconds before its first authorization poll;
// one second is what most clients use and what CAs expect.
type pollHint struct{ next http.RoundTripper }

func (p pollHint) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := p.next.RoundTrip(r)
	if err == nil && r.Method == http.MethodPost && resp.Header.Get("Retry-After") == "" &&
		resp.StatusCode == http.StatusOK {
		resp.Header.Set("Retry-After", "1")
	}
	return resp, err
}
