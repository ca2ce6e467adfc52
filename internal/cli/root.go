package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/certctl/certctl/acme"
	"github.com/certctl/certctl/store"
)

// Deps is what commands take from the outside world.
type Deps struct {
	Stdout, Stderr io.Writer
	// Getenv reads the environment. Nil means os.Getenv.
	Getenv func(string) string
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// Version is printed by --version.
	Version string
	// HTTPClient, if set, is used to talk to CAs (tests).
	HTTPClient *http.Client
}

// globals are the flags every command takes.
type globals struct {
	deps      *Deps
	storePath string
	directory string
	email     string
	caCert    string
	output    string
	logFormat string
	logLevel  string
	resolvers []string

	logger *slog.Logger
}

// Run builds the root command, runs it with args and returns the exit code.
// Errors are printed as one line on stderr.
func Run(ctx context.Context, deps *Deps, args []string) int {
	if deps.Getenv == nil {
		deps.Getenv = os.Getenv
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	root := NewRootCmd(deps)
	root.SetArgs(args)
	root.SetOut(deps.Stdout)
	root.SetErr(deps.Stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err != nil {
		if isCobraUsage(err) {
			err = &usageError{err.Error()}
		}
		var fe *failedError
		if errors.As(err, &fe) {
			fmt.Fprintf(deps.Stderr, "certctl: %s\n", fe.Error())
		} else {
			fmt.Fprintf(deps.Stderr, "certctl: %s\n", withHint(oneLine(err), err))
		}
		if cmd != nil && ExitCode(err) == ExitUsage && isCobraUsage(err) {
			fmt.Fprintf(deps.Stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
		}
	}
	return ExitCode(err)
}

// isCobraUsage recognizes cobra's own argument and flag errors.
func isCobraUsage(err error) bool {
	var ue *usageError
	if errors.As(err, &ue) {
		return true
	}
	msg := err.Error()
	for _, p := range []string{"unknown flag", "unknown shorthand", "unknown command", "flag needs an argument",
		"invalid argument", "accepts ", "requires at least", "required flag", "if any flags in the group"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

func oneLine(err error) string {
	s := strings.TrimSpace(err.Error())
	s = strings.ReplaceAll(s, "\n", "; ")
	return s
}

// NewRootCmd returns the certctl command with every subcommand added.
func NewRootCmd(deps *Deps) *cobra.Command {
	g := &globals{deps: deps}
	root := &cobra.Command{
		Use:           "certctl",
		Short:         "Obtain, renew and hot-reload ACME certificates",
		Long:          "certctl obtains certificates from Let's Encrypt or any ACME CA, keeps them in a store,\nrenews them before they expire and puts them into the servers that use them.",
		Version:       deps.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return g.setup()
		},
	}
	env := deps.Getenv
	if env == nil {
		env = os.Getenv
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.storePath, "store", "", "store file (env CERTCTL_STORE; default "+store.DefaultPath()+")")
	pf.StringVar(&g.directory, "directory", envOr(env, "CERTCTL_DIRECTORY", ""), "ACME directory: URL or letsencrypt, letsencrypt-staging, zerossl, google (env CERTCTL_DIRECTORY; default letsencrypt)")
	pf.StringVar(&g.email, "email", envOr(env, "CERTCTL_EMAIL", ""), "account email (env CERTCTL_EMAIL)")
	pf.StringVar(&g.caCert, "ca-cert", envOr(env, "CERTCTL_CA_CERT", ""), "PEM file of CA certificates trusted for the ACME server's HTTPS (env CERTCTL_CA_CERT)")
	pf.StringVarP(&g.output, "output", "o", "table", "output format: table or json")
	pf.StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
	pf.StringVar(&g.logLevel, "log-level", "warn", "log level: debug, info, warn or error")
	pf.StringArrayVar(&g.resolvers, "resolver", splitList(envOr(env, "CERTCTL_RESOLVERS", "")),
		"DNS resolver (host:port) certctl asks itself to explain a failed validation, repeatable (env CERTCTL_RESOLVERS, comma-separated; default the system's)")

	root.AddCommand(
		NewCmdIssue(g),
		NewCmdRenew(g),
		NewCmdList(g),
		NewCmdShow(g),
		NewCmdExport(g),
		NewCmdRevoke(g),
		NewCmdRemove(g),
		NewCmdRollback(g),
		NewCmdAccount(g),
		NewCmdSandbox(g),
		NewCmdDaemon(g),
		NewCmdConfigure(g),
	)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return &usageError{err.Error()} })
	return root
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// resolverList returns --resolver, or the system's resolvers without it.
func (g *globals) resolverList() []string {
	if len(g.resolvers) > 0 {
		return g.resolvers
	}
	return acme.SystemResolvers()
}

func envOr(env func(string) string, k, def string) string {
	if v := env(k); v != "" {
		return v
	}
	return def
}

func (g *globals) setup() error {
	switch g.output {
	case "table", "json":
	default:
		return usagef("--output %q: want table or json", g.output)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		return usagef("--log-level %q: want debug, info, warn or error", g.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch g.logFormat {
	case "text":
		g.logger = slog.New(slog.NewTextHandler(g.deps.Stderr, opts))
	case "json":
		g.logger = slog.New(slog.NewJSONHandler(g.deps.Stderr, opts))
	default:
		return usagef("--log-format %q: want text or json", g.logFormat)
	}
	return nil
}

// openStore opens the store, creating the default directory when the
// default path is used.
func (g *globals) openStore() (*store.DB, error) {
	path := g.storePath
	if path == "" {
		path = envOr(g.deps.Getenv, "CERTCTL_STORE", "")
	}
	if path == "" {
		path = store.DefaultPath()
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("store %s: %w", path, err)
		}
	}
	return store.Open(path, &store.Options{Logger: g.logger})
}

// directoryURL resolves --directory.
func (g *globals) directoryURL() (string, error) {
	return acme.ResolveDirectory(g.directory)
}

// httpClient builds the client for CAs, trusting --ca-cert.
func (g *globals) httpClient() (*http.Client, error) {
	if g.deps.HTTPClient != nil {
		return g.deps.HTTPClient, nil
	}
	var pemBytes []byte
	if g.caCert != "" {
		b, err := acme.LoadCACert(g.caCert)
		if err != nil {
			return nil, usagef("%v", err)
		}
		pemBytes = b
	}
	return acme.NewHTTPClient(pemBytes)
}

func (g *globals) json() bool { return g.output == "json" }
