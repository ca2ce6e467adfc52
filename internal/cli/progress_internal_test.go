package cli

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certctl/certctl/renew"
)

// syncBuffer is a bytes.Buffer safe for the progress goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A progress report writes one line per tick that saw progress, counting
// each action, and nothing at a tick without progress.
func TestProgress_LinesOnTicksWithProgress(t *testing.T) {
	var out syncBuffer
	p := &progress{w: &out, what: "renew", total: 3, start: time.Now(), counts: map[renew.Action]int{}}
	tick := make(chan time.Time)
	stop := make(chan struct{})
	ended := make(chan struct{})
	go func() { defer close(ended); p.run(tick, stop) }()

	p.add(renew.Result{Action: renew.ActionRenewed})
	p.add(renew.Result{Action: renew.ActionFailed})
	tick <- time.Now()
	tick <- time.Now() // no progress since: no line
	p.add(renew.Result{Action: renew.ActionNotDue})
	tick <- time.Now()
	close(stop)
	<-ended

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 ||
		!strings.HasPrefix(lines[0], "renew: 2/3 done (1 renewed, 0 issued, 0 not due, 1 failed), ") ||
		!strings.HasPrefix(lines[1], "renew: 3/3 done (1 renewed, 0 issued, 1 not due, 1 failed), ") {
		t.Fatalf("progress lines:\n%s", out.String())
	}
}

// No progress is reported to a writer that is not a terminal, or with JSON
// output, and attaching nothing is harmless.
func TestProgress_NotATerminal(t *testing.T) {
	g := &globals{output: "table"}
	var buf bytes.Buffer
	p := g.newProgress(&buf, "renew", 1)
	if p != nil {
		t.Fatal("progress on a buffer")
	}
	svc := &renew.Service{}
	p.attach(svc)()
	if svc.OnResult != nil {
		t.Fatal("nil progress attached a callback")
	}
}
