// Command mangen writes certctl's man pages, one per command
// (certctl.1, certctl-issue.1, certctl-store-copy.1, ...), with cobra's
// generator. It is run by `make man` and is not linked into certctl:
//
//	go run ./internal/cli/mangen -dir man/man1 -version v1.2.3
//
// The pages are dated by SOURCE_DATE_EPOCH when it is set (reproducible
// builds), else today.
package main
