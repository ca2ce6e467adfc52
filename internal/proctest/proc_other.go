//go:build !linux

package proctest

import "testing"

// pidPipe would be a named pipe through which a command reports the ids of
// processes it starts; watching them needs Linux.
type pidPipe struct{ path string }

// newPIDPipe skips the test: watching processes needs Linux pidfds.
func newPIDPipe(t testing.TB) *pidPipe {
	t.Helper()
	t.Skip("watching processes needs Linux pidfds")
	return nil
}

func (p *pidPipe) closeWrite() {}

func (p *pidPipe) next(t testing.TB) *Process { return nil }

// Process is a process that a test watches; it needs Linux.
type Process struct {
	// Pid is the process id.
	Pid int
}

// WaitGone is never reached: Start skipped the test.
func (p *Process) WaitGone(t testing.TB) {}
