package cli

// defaultRenewWorkers is how many renewals `certctl renew` runs at once by
// default. An order spends most of its time waiting on the CA (validation,
// issuance), so bulk work scales with the orders in flight until the CPU
// is busy: on the project's 2-core machine, 50 renewals against Pebble took
// 13.8 s with 4 workers and 7.1 s with 8 (issue 12), and
// BenchmarkRenewWorkers (bench/bulk_test.go, in-process Pebble that
// validates at once, so CPU-bound) finds 16 workers as fast as 8 or 32
// within the noise. 16 keeps twice as many of a CA's waits overlapping as 8
// at no cost, and stays far below the concurrency a public CA tolerates
// from one account; --max-orders-per-second caps the order rate for CAs
// that ask for less.
const defaultRenewWorkers = 16
