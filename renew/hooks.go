package renew

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/certctl/certctl/internal/command"
)

// HookEvent is when a hook runs, the value of CERTCTL_EVENT.
type HookEvent string

// The hook events.
const (
	HookPre     HookEvent = "pre"     // before a renewal is attempted
	HookDeploy  HookEvent = "deploy"  // after a new version became active
	HookPost    HookEvent = "post"    // after every renewal attempt, successful or not
	HookFailure HookEvent = "failure" // after a failed renewal attempt
)

// DefaultHookTimeout is how long RunHook lets a hook run when given no timeout.
const DefaultHookTimeout = 2 * time.Minute

// HookEnv is the data given to a hook, in environment variables (see
// [HookEnv.Environ]); none of it is ever put into the hook's argv.
type HookEnv struct {
	// Event is one of HookPre, HookDeploy, HookPost, HookFailure.
	Event HookEvent
	// Name is the certificate's name.
	Name string
	// Domains are the certificate's names, the primary first.
	Domains []string
	// Serial is the active certificate's serial in lowercase hex, if any.
	Serial string
	// NotAfter is the end of the active certificate's validity; zero if none.
	NotAfter time.Time
	// CertFile, KeyFile, ChainFile and FullchainFile are the exported PEM
	// files, when the certificate has a file binding.
	CertFile, KeyFile, ChainFile, FullchainFile string
	// PFXFile is the exported PKCS#12 file, when the certificate has a
	// binding with a PFX (the first such binding).
	PFXFile string
	// PFXPasswordFile is the file holding PFXFile's password, when its
	// binding has one. The password itself is never in a hook's environment.
	PFXPasswordFile string
	// PFXPasswordEnv is the name (not the value) of the environment
	// variable holding PFXFile's password, when its binding has one. The
	// hook sees its value only if CERTCTL_HOOK_ENV names it.
	PFXPasswordEnv string
	// Err is the renewal error, for the failure and post events.
	Err string
}

// Environ returns the hook's variables as "KEY=value" strings, each always
// present (empty values as ""):
//
//	CERTCTL_EVENT              pre, deploy, post or failure
//	CERTCTL_NAME               the certificate's name
//	CERTCTL_DOMAINS            its domains, comma-separated, the primary first
//	CERTCTL_SERIAL             the active serial, lowercase hex
//	CERTCTL_NOT_AFTER          the active certificate's expiry, RFC 3339 in UTC
//	CERTCTL_CERT_FILE          exported leaf certificate (PEM)
//	CERTCTL_KEY_FILE           exported private key (PEM)
//	CERTCTL_CHAIN_FILE         exported issuer chain (PEM)
//	CERTCTL_FULLCHAIN_FILE     exported leaf and chain (PEM)
//	CERTCTL_PFX_FILE           exported PKCS#12 file (leaf, chain and key)
//	CERTCTL_PFX_PASSWORD_FILE  file holding the PFX's password, if any
//	CERTCTL_PFX_PASSWORD_ENV   name of the variable holding it, if any
//	CERTCTL_ERROR              the error of a failed renewal
//
// NUL bytes, which an environment cannot hold, are removed from values.
func (e HookEnv) Environ() []string {
	notAfter := ""
	if !e.NotAfter.IsZero() {
		notAfter = e.NotAfter.UTC().Format(time.RFC3339)
	}
	vars := []struct{ k, v string }{
		{"CERTCTL_EVENT", string(e.Event)},
		{"CERTCTL_NAME", e.Name},
		{"CERTCTL_DOMAINS", strings.Join(e.Domains, ",")},
		{"CERTCTL_SERIAL", e.Serial},
		{"CERTCTL_NOT_AFTER", notAfter},
		{"CERTCTL_CERT_FILE", e.CertFile},
		{"CERTCTL_KEY_FILE", e.KeyFile},
		{"CERTCTL_CHAIN_FILE", e.ChainFile},
		{"CERTCTL_FULLCHAIN_FILE", e.FullchainFile},
		{"CERTCTL_PFX_FILE", e.PFXFile},
		{"CERTCTL_PFX_PASSWORD_FILE", e.PFXPasswordFile},
		{"CERTCTL_PFX_PASSWORD_ENV", e.PFXPasswordEnv},
		{"CERTCTL_ERROR", e.Err},
	}
	out := make([]string, len(vars))
	for i, kv := range vars {
		out[i] = kv.k + "=" + strings.ReplaceAll(kv.v, "\x00", "")
	}
	return out
}

// RunHook runs the command argv for event e.Event of certificate e.Name and
// waits for it. argv[0] is looked up in PATH; no shell is involved unless
// argv itself names one (["sh", "-c", "..."]), and the certificate's data
// reaches the hook only through the environment: [HookEnv.Environ] added to
// a minimal one (PATH, HOME, USER, LOGNAME, SHELL, TERM, TMPDIR, TZ, LANG,
// LANGUAGE, LC_*, SSL_CERT_FILE, SSL_CERT_DIR when set, plus the variables
// named in CERTCTL_HOOK_ENV, a comma-separated list of names or NAME*
// prefixes). The rest of certctl's environment, such as DNS provider tokens
// or a PFX password, never reaches a hook. An empty argv runs nothing and
// returns nil.
//
// The hook runs in its own process group, which is killed as a whole when
// timeout (0 means [DefaultHookTimeout]) passes, returning an error matching
// [ErrHookTimeout], or when ctx is done, returning an error matching ctx.Err().
// Its combined stdout and stderr (the last 64 KiB) is logged at info level in
// one record; on failure the tail of it is also quoted in the error:
// "NAME: EVENT hook "argv0": CAUSE (output: "...")". The exit status is
// available through errors.As with *exec.ExitError.
func RunHook(ctx context.Context, argv []string, e HookEnv, timeout time.Duration, logger *slog.Logger) error {
	if len(argv) == 0 {
		return nil
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if timeout <= 0 {
		timeout = DefaultHookTimeout
	}
	start := time.Now()
	logger.Debug("hook started", "name", e.Name, "event", e.Event, "command", argv[0])
	out, err := command.Run(ctx, argv, e.Environ(), timeout)
	attrs := []any{
		"name", e.Name, "event", e.Event, "command", argv[0],
		"duration", time.Since(start), "output", string(out),
	}
	if err != nil {
		attrs = append(attrs, "err", err)
	}
	logger.Info("hook ran", attrs...)
	if err == nil {
		return nil
	}
	if tail := command.Tail(out); tail != "" {
		return fmt.Errorf("%s: %s hook %q: %w (output: %q)", e.Name, e.Event, argv[0], err, tail)
	}
	return fmt.Errorf("%s: %s hook %q: %w", e.Name, e.Event, argv[0], err)
}
