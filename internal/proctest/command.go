package proctest

import (
	"errors"
	"testing"
	"time"
)

// Command is code under test that runs an external command, started by
// [Start].
type Command struct {
	pids *pidPipe
	done chan struct{} // closed when run has returned
	err  error         // what run returned
}

// Start calls run in a new goroutine with the path of a new named pipe, to
// pass to the external command, through which it reports the ids of the
// processes it starts, one line each: echo $! > "$PIPE". The end of the test
// waits for run to return.
func Start(t testing.TB, run func(pidPipe string) error) *Command {
	t.Helper()
	c := &Command{pids: newPIDPipe(t), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		defer c.pids.closeWrite()
		c.err = run(c.pids.path)
	}()
	t.Cleanup(func() { <-c.done })
	return c
}

// Child waits for the next process the command reports and returns it, held
// through a pidfd opened at once, before its id can be reused. It returns nil
// when run returned with no further report, and fails the test when neither
// happens within 10 s.
func (c *Command) Child(t testing.TB) *Process {
	t.Helper()
	return c.pids.next(t)
}

// Wait waits for run to return and returns its error.
func (c *Command) Wait() error {
	<-c.done
	return c.err
}

// CheckTimeoutKillsChild checks that code which runs a command with a timeout
// kills, at the timeout, the command's child too. run must run argv (a
// script that starts a child, reports it and waits for it) with timeout and
// return an error matching want. On a loaded machine the timeout may pass
// before the script started its child; then it tries again with a longer one.
func CheckTimeoutKillsChild(t *testing.T, want error, run func(argv []string, timeout time.Duration) error) {
	t.Helper()
	script := Script(t, "child.sh", "sleep 60 &\necho $! > \"$1\"\nwait\n")
	for _, timeout := range []time.Duration{300 * time.Millisecond, 2 * time.Second, 5 * time.Second} {
		c := Start(t, func(pidPipe string) error { return run([]string{script, pidPipe}, timeout) })
		child := c.Child(t) // nil if the script was killed before it reported its child
		if err := c.Wait(); !errors.Is(err, want) {
			t.Fatalf("err = %v, want %v", err, want)
		}
		if child != nil {
			child.WaitGone(t)
			return
		}
	}
	t.Fatal("the script never started its child")
}
