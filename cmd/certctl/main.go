// Command certctl obtains, renews and hot-reloads ACME certificates.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/certctl/certctl/internal/cli"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, &cli.Deps{Stdout: os.Stdout, Stderr: os.Stderr, Version: version}, os.Args[1:])
	stop()
	os.Exit(code)
}
