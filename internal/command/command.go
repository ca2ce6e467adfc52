package command

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"time"
)

const (
	// outputMax bounds the output Run keeps and returns (64 KiB).
	outputMax = 64 << 10
	// outputGrace is how long output is still read after a command exited
	// while a process it left behind holds its stdout/stderr.
	outputGrace = 2 * time.Second
)

// Run runs argv, without a shell (argv[0] is looked up in PATH), with the
// minimal environment of [Environ] plus env (never certctl's whole
// environment, which may hold DNS provider tokens or a PFX password), in a
// new process group that is killed as a
// whole when timeout passes (returning an error matching [ErrTimeout]) or
// when ctx is done. It returns the last 64 KiB of the combined
// output. A command that exits 0 but leaves a process holding its output
// succeeds after a short grace. A failed command's exit status is available
// through errors.As with *exec.ExitError.
func Run(ctx context.Context, argv, env []string, timeout time.Duration) ([]byte, error) {
	if len(argv) == 0 {
		return nil, errors.New("empty command")
	}
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	cmd := exec.CommandContext(tctx, argv[0], argv[1:]...)
	if cmd.Err != nil {
		return nil, cmd.Err
	}
	cmd.Env = Environ(env)
	buf := &tailBuffer{max: outputMax}
	cmd.Stdout, cmd.Stderr = buf, buf
	setProcessGroup(cmd)
	cmd.Cancel = func() error { return killProcessGroup(cmd.Process) }
	cmd.WaitDelay = outputGrace

	err := cmd.Run()
	out := buf.bytes()
	switch {
	case err == nil:
		return out, nil
	case ctx.Err() != nil:
		return out, fmt.Errorf("killed: %w", context.Cause(ctx))
	case tctx.Err() != nil:
		return out, fmt.Errorf("killed after %v: %w", timeout, ErrTimeout)
	case errors.Is(err, exec.ErrWaitDelay):
		return out, nil // exited 0, but left a process holding its output
	}
	return out, err
}

// tailBuffer keeps the last max bytes written to it; safe for concurrent use.
type tailBuffer struct {
	mu      sync.Mutex
	max     int
	buf     []byte
	dropped bool
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(p)
	if len(p) >= b.max {
		b.buf = append(b.buf[:0], p[len(p)-b.max:]...)
		b.dropped = b.dropped || len(p) > b.max
		return n, nil
	}
	if over := len(b.buf) + len(p) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
		b.dropped = true
	}
	b.buf = append(b.buf, p...)
	return n, nil
}

// bytes returns a copy of what is kept, marked when output was dropped.
func (b *tailBuffer) bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dropped {
		return append([]byte("[output truncated]\n"), b.buf...)
	}
	return bytes.Clone(b.buf)
}

// TailMax bounds the output quoted by [Tail].
const TailMax = 4 << 10

// Tail returns the last [TailMax] bytes of a command's output, trimmed of
// surrounding space and marked "..." when cut, for quoting in an error that
// may end up in a store or a log line.
func Tail(out []byte) string {
	s := strings.TrimSpace(string(out))
	if len(s) > TailMax {
		s = "..." + s[len(s)-TailMax:]
	}
	return s
}
