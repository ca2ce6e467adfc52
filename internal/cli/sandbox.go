package cli

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/certctl/certctl/internal/acmetest"
	"github.com/certctl/certctl/internal/fsx"
)

type sandboxOptions struct {
	g        *globals
	listen   string
	httpPort int
	tlsPort  int
	validity time.Duration
	caOut    string
	rootOut  string
}

// NewCmdSandbox returns `certctl sandbox`.
func NewCmdSandbox(g *globals) *cobra.Command {
	o := &sandboxOptions{g: g}
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Run a local ACME CA for trials without internet (until interrupted)",
		Long: "Run Let's Encrypt's Pebble test CA inside certctl, with a DNS resolver that answers 127.0.0.1\n" +
			"for every name, so the whole certificate lifecycle can be tried offline. Its certificates are\n" +
			"trusted by nothing but the root written to --root-out.",
		Example: "  certctl sandbox --ca-out /tmp/sandbox-ca.pem --root-out /tmp/sandbox-root.pem &\n" +
			"  certctl issue -d a.test --directory https://127.0.0.1:14000/dir --ca-cert /tmp/sandbox-ca.pem \\\n" +
			"      --http-addr 127.0.0.1:5002 --agree-tos",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runSandbox(cmd, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", "127.0.0.1:14000", "address of the ACME HTTPS endpoint")
	f.IntVar(&o.httpPort, "http-port", 5002, "port on 127.0.0.1 the CA dials for http-01 challenges")
	f.IntVar(&o.tlsPort, "tls-port", 5001, "port on 127.0.0.1 the CA dials for tls-alpn-01 challenges")
	f.DurationVar(&o.validity, "validity", 90*24*time.Hour, "validity of issued certificates (e.g. 10m, 6d)")
	f.StringVar(&o.caOut, "ca-out", "", "write the CA certificate of the HTTPS endpoint here (for --ca-cert)")
	f.StringVar(&o.rootOut, "root-out", "", "write the root of issued certificates here")
	return cmd
}

func runSandbox(cmd *cobra.Command, o *sandboxOptions) error {
	host, _, err := net.SplitHostPort(o.listen)
	if err != nil {
		return usagef("--listen %q: %v", o.listen, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return usagef("--listen %q: the sandbox listens on loopback addresses only", o.listen)
	}
	if o.httpPort < 1 || o.httpPort > 65535 || o.tlsPort < 1 || o.tlsPort > 65535 {
		return usagef("--http-port and --tls-port must be between 1 and 65535")
	}
	if o.validity < 10*time.Second {
		return usagef("--validity %s: must be at least 10s", o.validity)
	}
	srv, err := acmetest.Start(acmetest.Options{
		Listen:   o.listen,
		HTTPPort: o.httpPort,
		TLSPort:  o.tlsPort,
		Validity: o.validity,
		Logger:   o.g.logger,
	})
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	defer srv.Close()
	if o.caOut != "" {
		if err := fsx.WriteFile(o.caOut, srv.ServerCAPEM(), 0o644); err != nil {
			return fmt.Errorf("sandbox: --ca-out: %w", err)
		}
	}
	if o.rootOut != "" {
		root, err := srv.RootPEM()
		if err != nil {
			return fmt.Errorf("sandbox: %w", err)
		}
		if err := fsx.WriteFile(o.rootOut, root, 0o644); err != nil {
			return fmt.Errorf("sandbox: --root-out: %w", err)
		}
	}
	w := cmd.OutOrStdout()
	if o.g.json() {
		_ = writeJSON(w, map[string]any{"directory": srv.DirectoryURL(), "ca_cert": o.caOut, "root": o.rootOut,
			"http_addr": "127.0.0.1:" + strconv.Itoa(srv.HTTPPort()), "validity": o.validity.String()})
	} else {
		fmt.Fprintf(w, "Sandbox ACME CA ready\n  directory: %s\n", srv.DirectoryURL())
		if o.caOut != "" {
			fmt.Fprintf(w, "  HTTPS CA:  %s (use --ca-cert %s)\n", o.caOut, o.caOut)
		}
		if o.rootOut != "" {
			fmt.Fprintf(w, "  root:      %s\n", o.rootOut)
		}
		fmt.Fprintf(w, "  http-01:   the CA dials 127.0.0.1:%d (use --http-addr 127.0.0.1:%d)\n", srv.HTTPPort(), srv.HTTPPort())
		fmt.Fprintf(w, "  validity:  %s; every name resolves to 127.0.0.1\nStop with Ctrl-C.\n", o.validity)
	}
	<-cmd.Context().Done()
	return nil
}
