package certctl

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"
)

// HTTPS serves handler over HTTPS with certificates for domains, managed
// as cfg says (nil: the zero [Config], whose AgreeTOS is false: set it), until
// ctx is done: on Config.HTTPSAddr (":443") with [Manager.TLSConfig], and on
// Config.HTTPAddr (":80") answering HTTP-01 validations and redirecting every
// other request to HTTPS. It listens first, then obtains (or loads) the
// certificates, so that the CA's validations reach it; it fails if a port
// cannot be bound or a certificate cannot be obtained. With Config.OnDemand
// set, domains may be empty. When ctx is done it
// shuts the servers down (waiting up to 5 seconds for requests in flight),
// closes the Manager and returns nil.
func HTTPS(ctx context.Context, cfg *Config, domains []string, handler http.Handler) error {
	m, err := New(cfg)
	if err != nil {
		return err
	}
	defer m.Close()
	httpAddr, httpsAddr := m.cfg.HTTPAddr, m.cfg.HTTPSAddr
	if httpAddr == "" {
		httpAddr = ":80"
	}
	if httpsAddr == "" {
		httpsAddr = ":443"
	}
	var lc net.ListenConfig
	hl, err := lc.Listen(ctx, "tcp", httpAddr)
	if err != nil {
		return err
	}
	tl, err := lc.Listen(ctx, "tcp", httpsAddr)
	if err != nil {
		_ = hl.Close()
		return err
	}
	_, tlsPort, _ := net.SplitHostPort(tl.Addr().String())
	hs := &http.Server{Handler: m.HTTPHandler(redirect(tlsPort)), ReadHeaderTimeout: 10 * time.Second}
	ts := &http.Server{Handler: handler, TLSConfig: m.TLSConfig(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 2)
	go func() { errc <- hs.Serve(hl) }()
	go func() { errc <- ts.ServeTLS(tl, "", "") }()
	running := 2
	shutdown := func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
		_ = ts.Shutdown(sctx)
		for ; running > 0; running-- {
			<-errc
		}
	}
	if len(domains) > 0 { // none: on-demand names only
		if err := m.Manage(ctx, domains...); err != nil {
			shutdown()
			return err
		}
	}
	m.log.Info("serving HTTPS", "https", tl.Addr().String(), "http", hl.Addr().String(), "names", domains)
	select {
	case <-ctx.Done():
		shutdown()
		return nil
	case err = <-errc: // a server stopped by itself
		running--
		shutdown()
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		return err
	}
}

// redirect sends every request to the same host and path over HTTPS, on
// port tlsPort ("443" is left out of the URL).
func redirect(tlsPort string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if host == "" {
			http.Error(w, "no Host", http.StatusBadRequest)
			return
		}
		if tlsPort != "" && tlsPort != "443" {
			host = net.JoinHostPort(host, tlsPort)
		}
		http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusMovedPermanently)
	})
}
