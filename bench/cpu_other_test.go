//go:build !unix

package bench

import "time"

// cpuTime is not measured here (see cpu_unix_test.go).
func cpuTime() (time.Duration, bool) { return 0, false }
