package acme

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-acme/lego/v4/lego"
)

// Config says which CA to talk to and how.
type Config struct {
	// Directory is the CA's directory URL (see [ResolveDirectory]).
	Directory string
	// HTTPClient talks to the CA. Nil means [NewHTTPClient](nil).
	HTTPClient *http.Client
	// UserAgent is added to lego's. Empty means "certctl".
	UserAgent string
	// Logger receives debug logs. Nil discards them.
	Logger *slog.Logger
	// Resolvers are the DNS resolvers ("host:port") that certctl asks
	// itself after the CA failed to validate a name, to tell a name that
	// resolves elsewhere or not at all from a closed port, and to name the
	// CAA records that refused ([ValidationError.Lookup]). A challenge's
	// DNSResolvers take precedence. Nil makes no such lookups;
	// [SystemResolvers] returns the system's.
	Resolvers []string
	// CertTimeout bounds waiting for the CA to issue after finalizing.
	// Zero means 60 seconds.
	CertTimeout time.Duration
}

func (c *Config) httpClient() (*http.Client, error) {
	hc := c.HTTPClient
	if hc == nil {
		var err error
		if hc, err = NewHTTPClient(nil); err != nil {
			return nil, err
		}
	}
	return wrapClient(hc), nil
}

func newLego(ctx context.Context, cfg Config, acct *Account, kt KeyType) (*lego.Client, error) {
	return newLegoVia(ctx, cfg, acct, kt, nil)
}

// newLegoVia is newLego with the HTTP client's transport wrapped by via, if
// set.
func newLegoVia(ctx context.Context, cfg Config, acct *Account, kt KeyType, via func(http.RoundTripper) http.RoundTripper) (*lego.Client, error) {
	installLegoLogger(cfg.Logger)
	hc, err := cfg.httpClient()
	if err != nil {
		return nil, err
	}
	if via != nil {
		c := *hc
		c.Transport = via(hc.Transport)
		hc = &c
	}
	lcfg := lego.NewConfig(legoUser{acct})
	lcfg.CADirURL = cfg.Directory
	lcfg.HTTPClient = hc
	lcfg.UserAgent = cfg.UserAgent
	if lcfg.UserAgent == "" {
		lcfg.UserAgent = "certctl"
	}
	lcfg.Certificate.KeyType = kt.lego()
	lcfg.Certificate.Timeout = cfg.CertTimeout
	if lcfg.Certificate.Timeout <= 0 {
		lcfg.Certificate.Timeout = 60 * time.Second
	}
	lc, err := runCtx(ctx, func() (*lego.Client, error) { return lego.NewClient(lcfg) })
	if err != nil {
		return nil, classifyDirectory(cfg.Directory, err)
	}
	return lc, nil
}

// runCtx runs f, which ignores contexts (lego v4), and returns early with
// ctx's error when ctx ends first; f then finishes in the background.
func runCtx[T any](ctx context.Context, f func() (T, error)) (T, error) {
	if ctx.Done() == nil {
		return f()
	}
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := f()
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}
