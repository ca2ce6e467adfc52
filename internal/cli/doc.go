// Package cli is certctl's command line: one cobra command per file, each
// with an options struct and a run function, and the mapping from errors to
// exit codes in one place ([ExitCode]).
//
// Its few types: [Deps] carries what commands need from the outside world
// (streams, environment, clock); [Run] builds the root command, runs it and
// returns the exit code.
package cli
