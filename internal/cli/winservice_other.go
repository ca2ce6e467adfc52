//go:build !windows

package cli

import (
	"context"
	"io"
	"time"
)

// serviceSupported: Windows services exist on Windows only.
const serviceSupported = false

func installService(exe string, args []string, warn io.Writer) error { return errServiceWindowsOnly }

func controlService(ctx context.Context, verb string, timeout time.Duration) error {
	return errServiceWindowsOnly
}

func runService(g *globals, o *serviceRunOptions) error { return errServiceWindowsOnly }
