// Package cli is certctl's command line. Each command lives in its own file
// (issue.go, renew.go, list.go, show.go, export.go, revoke.go, remove.go,
// rollback.go, configure.go, account.go, daemon.go, sandbox.go, store.go,
// storecopy.go, check.go and doctor.go) as a
// NewCmdX function that builds an options struct and a run function writing
// to the command's output. The rest is shared: root.go holds the global
// flags, the store (a [store.Backend] opened from a path or a store URL,
// closed when the command ends) and the logger; service.go builds the one renew.Service a
// command uses (globals.service is the only place that does); errors.go maps
// errors to exit codes ([ExitCode]) and adds flag hints to library errors in
// one place; output.go writes results as tables or JSON; hooks.go parses the
// hook and file-binding flags; timings.go is --timings, progress.go the
// progress lines of renew on a terminal, bulk.go the default of --workers;
// checkprobe.go holds the TLS handshakes of check and checkstore.go its
// comparison with the store.
//
// Its few exported names: [Deps] carries what commands need from the outside
// world (streams, environment, clock, an HTTP client for tests, systemctl); [Run] builds
// the root command, runs it and returns the exit code.
package cli
