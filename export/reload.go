package export

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/certctl/certctl/internal/command"
)

// Reload runs t.ReloadCmd (an argv: argv[0] looked up in PATH, no shell)
// and waits for it; an empty ReloadCmd runs nothing. The command gets a
// minimal environment, as hooks do (PATH, HOME, locale and the variables
// named in CERTCTL_HOOK_ENV), never certctl's whole one. The command runs in
// its own process group, killed as a whole when t.ReloadTimeout (0 means
// [DefaultReloadTimeout]) passes, returning an error matching
// [ErrCommandTimeout], or when ctx is done. Its combined output (the last
// 64 KiB) is logged at info level and, on failure, its tail is quoted in the
// error. logger nil discards logs.
func Reload(ctx context.Context, t FileTarget, logger *slog.Logger) error {
	if len(t.ReloadCmd) == 0 {
		return nil
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	timeout := t.ReloadTimeout
	if timeout <= 0 {
		timeout = DefaultReloadTimeout
	}
	argv := t.ReloadCmd
	start := time.Now()
	out, err := command.Run(ctx, argv, nil, timeout)
	attrs := []any{"command", argv[0], "duration", time.Since(start), "output", string(out)}
	if err != nil {
		attrs = append(attrs, "err", err)
	}
	logger.Info("reload command ran", attrs...)
	if err == nil {
		return nil
	}
	if s := command.Tail(out); s != "" {
		return fmt.Errorf("reload command %q: %w (output: %q)", argv[0], err, s)
	}
	return fmt.Errorf("reload command %q: %w", argv[0], err)
}

// ReadPassword resolves a PFX password: the content of file, with trailing
// newlines (\n, \r\n) removed, when file is set; else the value of the
// environment variable named env, which must be set (it may be empty). Both
// empty means no password: "" and nil.
func ReadPassword(file, env string) (string, error) {
	switch {
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("reading PFX password: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok {
			return "", fmt.Errorf("%s: environment variable not set: %w", env, ErrNoPassword)
		}
		return v, nil
	}
	return "", nil
}
