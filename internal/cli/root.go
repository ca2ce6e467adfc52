package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/certctl/certctl/acme"
	"github.com/certctl/certctl/internal/winacl"
	"github.com/certctl/certctl/renew"
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
	// Systemctl runs `systemctl ARGS...` and returns its standard output
	// (certctl doctor). Nil runs the system's systemctl.
	Systemctl func(ctx context.Context, args ...string) (string, error)
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

	// etcd connection settings, used when a store is an etcd URL.
	etcdCA, etcdCert, etcdKey string
	etcdPasswordFile          string
	etcdLockTTL               time.Duration
	lockTimeout               time.Duration
	etcdDialTimeout           time.Duration

	// the store key (storekey.go): the file given, the key once read, and
	// the keys of a store conversion, which replace it.
	storeKeyFile  string
	storeKeyBytes []byte
	storeKeyRead  bool
	keyOverride   *store.Options

	logger *slog.Logger
	// timings, when set, adds each result's timings to the output (see
	// timings.go).
	timings *timingsFlag
	// storeLoc is where the last store opened is (or was to be), for
	// messages about an unreachable store.
	storeLoc string
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
	root, g := newRootCmd(deps)
	root.SetArgs(args)
	root.SetOut(deps.Stdout)
	root.SetErr(deps.Stderr)
	cmd, err := root.ExecuteContextC(ctx)
	// Another certctl process's orders may rely on this one's HTTP-01
	// listener (see acme.WaitLingering): keep it up until they are done.
	acme.WaitLingering(ctx)
	if err != nil {
		err = g.nameStore(err)
		var cs *checkState // check's bad input keeps its UNKNOWN state
		if isCobraUsage(err) && !errors.As(err, &cs) {
			err = &usageError{err.Error()}
		}
		var fe *failedError
		if errors.As(err, &fe) {
			fmt.Fprintf(deps.Stderr, "certctl: %s\n", fe.Error())
		} else {
			fmt.Fprintf(deps.Stderr, "certctl: %s\n", withHint(oneLine(err), err))
		}
		if cmd != nil && (ExitCode(err) == ExitUsage || cs != nil) && isCobraUsage(err) {
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
	root, _ := newRootCmd(deps)
	return root
}

// newRootCmd is NewRootCmd, also returning the globals its commands share.
func newRootCmd(deps *Deps) (*cobra.Command, *globals) {
	g := &globals{deps: deps}
	root := &cobra.Command{
		Use:           "certctl",
		Short:         "Obtain, renew and hot-reload ACME certificates",
		Long:          "certctl obtains certificates from Let's Encrypt or any ACME CA, keeps them in a store,\nrenews them before they expire and puts them into the servers that use them.",
		Version:       shortVersion(deps.Version),
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
	pf.StringVar(&g.storePath, "store", "", "store: a file, or etcd://HOST:2379[,HOST:2379...]/PREFIX (etcds:// for TLS) (env CERTCTL_STORE; default "+store.DefaultPath()+")")
	pf.StringVar(&g.directory, "directory", envOr(env, "CERTCTL_DIRECTORY", ""), "ACME directory: URL or letsencrypt, letsencrypt-staging, zerossl, google (env CERTCTL_DIRECTORY; default letsencrypt)")
	pf.StringVar(&g.email, "email", envOr(env, "CERTCTL_EMAIL", ""), "account email (env CERTCTL_EMAIL)")
	pf.StringVar(&g.caCert, "ca-cert", envOr(env, "CERTCTL_CA_CERT", ""), "PEM file of CA certificates trusted for the ACME server's HTTPS (env CERTCTL_CA_CERT)")
	pf.StringVarP(&g.output, "output", "o", "table", "output format: table or json")
	pf.StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
	pf.StringVar(&g.logLevel, "log-level", "warn", "log level: debug, info, warn or error")
	pf.StringArrayVar(&g.resolvers, "resolver", splitList(envOr(env, "CERTCTL_RESOLVERS", "")),
		"DNS resolver (host:port) certctl asks itself to explain a failed validation, repeatable (env CERTCTL_RESOLVERS, comma-separated; default the system's)")
	pf.StringVar(&g.etcdCA, "etcd-ca", envOr(env, "CERTCTL_ETCD_CA", ""), "PEM file of the CAs trusted for etcd's TLS (env CERTCTL_ETCD_CA)")
	pf.StringVar(&g.etcdCert, "etcd-cert", envOr(env, "CERTCTL_ETCD_CERT", ""), "PEM client certificate for etcd (env CERTCTL_ETCD_CERT)")
	pf.StringVar(&g.etcdKey, "etcd-key", envOr(env, "CERTCTL_ETCD_KEY", ""), "PEM client key for etcd (env CERTCTL_ETCD_KEY)")
	pf.StringVar(&g.etcdPasswordFile, "etcd-password-file", envOr(env, "CERTCTL_ETCD_PASSWORD_FILE", ""),
		"file holding the etcd password of CERTCTL_ETCD_USERNAME (env CERTCTL_ETCD_PASSWORD_FILE; or the password in CERTCTL_ETCD_PASSWORD)")
	pf.DurationVar(&g.lockTimeout, "lock-timeout", renew.DefaultLockTimeout,
		"how long to wait for a certificate another certctl is working on before failing, 1s to 1h (the daemon never waits: it skips it until later)")
	pf.StringVar(&g.storeKeyFile, "store-key-file", "", "file holding the store key that seals private keys at rest (env CERTCTL_STORE_KEY_FILE; default the systemd credential "+credentialName+" when present)")
	pf.DurationVar(&g.etcdLockTTL, "etcd-lock-ttl", 0, "lease TTL of the per-certificate locks on etcd, 5s to 10m (default: the backend's, about 30s)")
	pf.DurationVar(&g.etcdDialTimeout, "etcd-dial-timeout", 0, "how long connecting to etcd may take, 1s to 1m; a request waits up to three times as long (default: the backend's, 5s)")

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
		NewCmdStore(g),
		NewCmdApply(g),
		NewCmdCheck(g),
		NewCmdDoctor(g),
		NewCmdVersion(g),
		NewCmdService(g),
	)
	g.addCompletion(root)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return &usageError{err.Error()} })
	return root, g
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
	if g.lockTimeout < time.Second || g.lockTimeout > time.Hour {
		return usagef("--lock-timeout %s: want 1s to 1h", g.lockTimeout)
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

// storeURL is the store given by --store or CERTCTL_STORE, or "" for the
// default file.
func (g *globals) storeURL() string {
	if g.storePath != "" {
		return g.storePath
	}
	return envOr(g.deps.Getenv, "CERTCTL_STORE", "")
}

// openStore opens the store of --store (a file path or a store URL),
// creating the default directory when the default path is used. The caller
// closes it.
func (g *globals) openStore(ctx context.Context) (store.Backend, error) {
	u := g.storeURL()
	if u == "" {
		u = store.DefaultPath()
		if err := winacl.MkdirAll(filepath.Dir(u)); err != nil {
			return nil, fmt.Errorf("store %s: %w", u, err)
		}
	}
	return g.openURL(ctx, u)
}

// openURL opens the store u with the global settings (logger, etcd TLS,
// credentials, lock TTL).
func (g *globals) openURL(ctx context.Context, u string) (store.Backend, error) {
	opts, err := g.storeOptions(u)
	if err != nil {
		return nil, err
	}
	g.storeLoc = redactURL(u)
	b, err := store.OpenURL(ctx, u, opts)
	if err != nil {
		return nil, err
	}
	g.storeLoc = b.Location()
	return b, nil
}

// isEtcdURL reports whether u names an etcd store.
func isEtcdURL(u string) bool {
	return strings.HasPrefix(u, "etcd://") || strings.HasPrefix(u, "etcds://")
}

// storeOptions are the store.Options for u. The etcd settings are checked
// and the password file read only for an etcd URL, so that settings meant
// for etcd do not get in the way of a file store.
func (g *globals) storeOptions(u string) (*store.Options, error) {
	opts := &store.Options{Logger: g.logger}
	if err := g.applyStoreKey(opts); err != nil {
		return nil, err
	}
	if !isEtcdURL(u) {
		if strings.Contains(u, "://") && !strings.HasPrefix(u, "file://") {
			return nil, refusef("store %s: unknown scheme (want a file path, file://, etcd:// or etcds://)", redactURL(u))
		}
		return opts, nil
	}
	if g.etcdLockTTL != 0 && (g.etcdLockTTL < 5*time.Second || g.etcdLockTTL > 10*time.Minute) {
		return nil, usagef("--etcd-lock-ttl %s: want 5s to 10m", g.etcdLockTTL)
	}
	if g.etcdDialTimeout != 0 && (g.etcdDialTimeout < time.Second || g.etcdDialTimeout > time.Minute) {
		return nil, usagef("--etcd-dial-timeout %s: want 1s to 1m", g.etcdDialTimeout)
	}
	if (g.etcdCert == "") != (g.etcdKey == "") {
		return nil, usagef("--etcd-cert and --etcd-key go together")
	}
	for flag, f := range map[string]string{"--etcd-ca": g.etcdCA, "--etcd-cert": g.etcdCert, "--etcd-key": g.etcdKey} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			return nil, usagef("%s %s: %v", flag, f, errors.Unwrap(err))
		}
	}
	user := g.deps.Getenv("CERTCTL_ETCD_USERNAME")
	pass := g.deps.Getenv("CERTCTL_ETCD_PASSWORD")
	if g.etcdPasswordFile != "" {
		if pass != "" {
			return nil, usagef("the etcd password is both in CERTCTL_ETCD_PASSWORD and in --etcd-password-file; give one")
		}
		b, err := os.ReadFile(g.etcdPasswordFile)
		if err != nil {
			return nil, usagef("--etcd-password-file %s: %v", g.etcdPasswordFile, errors.Unwrap(err))
		}
		pass = strings.TrimRight(string(b), "\r\n")
		if pass == "" {
			return nil, usagef("--etcd-password-file %s: empty", g.etcdPasswordFile)
		}
	}
	if pass != "" && user == "" {
		return nil, usagef("an etcd password needs its user name in CERTCTL_ETCD_USERNAME")
	}
	opts.EtcdCA, opts.EtcdCert, opts.EtcdKey = g.etcdCA, g.etcdCert, g.etcdKey
	opts.EtcdUsername, opts.EtcdPassword = user, pass
	opts.LockTTL, opts.DialTimeout = g.etcdLockTTL, g.etcdDialTimeout
	return opts, nil
}

// redactURL is u without a password, for messages.
func redactURL(u string) string {
	if !strings.Contains(u, "://") {
		return u
	}
	p, err := url.Parse(u)
	if err != nil {
		// Unparseable, perhaps several hosts: drop anything that looks
		// like credentials.
		if at := strings.LastIndex(u, "@"); at >= 0 {
			scheme, _, _ := strings.Cut(u, "://")
			return scheme + "://" + u[at+1:]
		}
		return u
	}
	return p.Redacted()
}

// nameStore makes sure an error about an unreachable store names it: the
// backend's errors usually do; when one does not, the store's location is
// put in front.
func (g *globals) nameStore(err error) error {
	if !errors.Is(err, store.ErrUnreachable) || g.storeLoc == "" || strings.Contains(err.Error(), g.storeLoc) {
		return err
	}
	return fmt.Errorf("store %s: %w", g.storeLoc, err)
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
