package proctest

import (
	"bufio"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// bound limits every wait in this package. It is a liveness limit that fails
// the test, not a measure: the events waited for come far sooner.
const bound = 10 * time.Second

// pidPipe is a named pipe (FIFO) through which a command reports the ids of
// processes it starts. It is open for reading from its creation to the end of
// the test, so a command's writes never wait for the test.
type pidPipe struct {
	path string
	r    *os.File // read end, non-blocking, so reads park on the runtime's poller
	br   *bufio.Reader
	w    *os.File // a write end of the test's own: until closeWrite, a read waits for a report instead of ending
	end  sync.Once
}

// newPIDPipe creates a pidPipe in a new temporary directory; it is closed at
// the end of the test.
func newPIDPipe(t testing.TB) *pidPipe {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pids")
	if err := unix.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	// A non-blocking open of the read end does not wait for a writer, and
	// with the read end open, neither does the open of the write end.
	r, err := os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	w, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		r.Close()
		t.Fatal(err)
	}
	p := &pidPipe{path: path, r: r, br: bufio.NewReader(r), w: w}
	t.Cleanup(func() {
		p.closeWrite()
		r.Close()
	})
	return p
}

// closeWrite says that no more reports will come: next then returns nil,
// instead of waiting, once it has read all reports. It may be called from
// any goroutine, more than once.
func (p *pidPipe) closeWrite() {
	p.end.Do(func() { p.w.Close() })
}

// next implements [Command.Child].
func (p *pidPipe) next(t testing.TB) *Process {
	t.Helper()
	if err := p.r.SetReadDeadline(time.Now().Add(bound)); err != nil {
		t.Fatal(err)
	}
	line, err := p.br.ReadString('\n')
	switch {
	case errors.Is(err, io.EOF):
		return nil
	case errors.Is(err, os.ErrDeadlineExceeded):
		t.Fatalf("no process reported within %v", bound)
	case err != nil:
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("reported process id %q: %v", line, err)
	}
	return watch(t, pid)
}

// Process is a process that a test watches through a pidfd. Unlike a process
// id, a pidfd cannot come to name another process when the id is reused.
type Process struct {
	// Pid is the process id.
	Pid int
	fd  int // the pidfd; -1 when the process had been reaped before watch
}

// watch holds the process pid through a pidfd. Call it as soon as pid is
// known, while the id cannot yet have been reused. A process already reaped
// counts as ended. At the end of the test the process is killed, should it
// still run, so a failing test leaves none behind, and the pidfd is closed.
func watch(t testing.TB, pid int) *Process {
	t.Helper()
	fd, err := unix.PidfdOpen(pid, 0)
	switch {
	case errors.Is(err, unix.ESRCH):
		return &Process{Pid: pid, fd: -1}
	case err != nil:
		t.Fatalf("pidfd_open(%d): %v", pid, err)
	}
	t.Cleanup(func() {
		_ = unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
		unix.Close(fd)
	})
	return &Process{Pid: pid, fd: fd}
}

// WaitGone waits until p has ended; a zombie, ended but not yet reaped,
// counts as ended. It reports an error if p still runs after 10 s.
func (p *Process) WaitGone(t testing.TB) {
	t.Helper()
	if p.fd < 0 {
		return
	}
	deadline := time.Now().Add(bound)
	for {
		// A pidfd becomes readable when its process ends.
		fds := []unix.PollFd{{Fd: int32(p.fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, int(max(0, time.Until(deadline).Milliseconds())))
		switch {
		case errors.Is(err, unix.EINTR):
			continue // a signal (the runtime preempts with SIGURG): wait on
		case err != nil:
			t.Fatalf("waiting for process %d: %v", p.Pid, err)
		case n == 0:
			t.Errorf("process %d still runs after %v", p.Pid, bound)
		}
		return
	}
}
