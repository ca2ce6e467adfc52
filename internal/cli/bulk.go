package cli

import (
	"context"

	"github.com/spf13/pflag"

	"github.com/certctl/certctl/acme"
)

// defaultRenewWorkers is how many renewals `certctl renew` runs at once by
// default, and the default of `apply` and `daemon` (whose former default of
// 4 made a --config file of 50 new certificates take 14 s). An order spends most of its time waiting on the CA (validation,
// issuance), so bulk work scales with the orders in flight until the CPU
// is busy. BenchmarkRenewWorkers (bench/bulk_test.go) renews 51
// certificates on the project's 2-core machine against Pebble:
//
//	CA latency   4 workers   8 workers   16 workers   32 workers
//	1 s          14.0 s      7.7 s       4.5 s        2.6 s
//	none         1.07 s      0.70 s      0.48 s       0.48 s
//
// With a public CA's second of validation, 32 workers are 5.4x faster than
// the former default of 4, and CPU-bound (no latency) they are no slower
// than 16. 32 orders in flight are far below what public CAs allow one
// account (Let's Encrypt: 300 new orders per account per 3 hours, 1,000
// pending authorizations); --max-orders-per-second caps the rate and
// --max-concurrent-orders (default: the worker count) the orders in flight
// per account for CAs that ask for less.
const defaultRenewWorkers = 32

// addMaxOrdersFlag adds --max-orders-per-second (renew.Service.MaxOrdersPerSecond).
func addMaxOrdersFlag(f *pflag.FlagSet, v *float64) {
	f.Float64Var(v, "max-orders-per-second", 0, "place at most this many new orders per second (0: no cap)")
}

// addMaxConcurrentFlag adds --max-concurrent-orders
// (renew.Service.MaxConcurrentOrders).
func addMaxConcurrentFlag(f *pflag.FlagSet, v *int) {
	f.IntVar(v, "max-concurrent-orders", 0, "orders in flight at once per CA account, across all workers (0: as many as --workers)")
}

// checkMaxConcurrent refuses a --max-concurrent-orders outside 0 to 1000.
func checkMaxConcurrent(v int) error {
	if v < 0 || v > 1000 {
		return usagef("--max-concurrent-orders %d: want 0 (as many as --workers) to 1000", v)
	}
	return nil
}

// checkMaxOrders refuses a --max-orders-per-second outside 0 to 1000.
func checkMaxOrders(v float64) error {
	if !(v >= 0 && v <= 1000) {
		return usagef("--max-orders-per-second %v: want 0 (no cap) to 1000", v)
	}
	return nil
}

// waitForOthers keeps this process's HTTP-01 responder up while other
// certctl processes' orders rely on it (acme.WaitLingering), with the store
// still open: the responder looks their tokens up there, and an etcd store
// cannot be read once closed. Commands that order call it after printing
// their results; Run waits again for the others, which is enough for a
// bbolt store.
func waitForOthers(ctx context.Context) { acme.WaitLingering(ctx) }
