package cli

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/certctl/certctl/renew"
)

// progressEvery is how often progress lines are written.
const progressEvery = 2 * time.Second

// progress counts the results of bulk work and writes a plain line about
// them to a terminal at every tick, when something changed: no progress
// library is in the module's graph, and a line every few seconds is all a
// long `renew` needs. Nothing is written with JSON output or when the
// writer is not a terminal (see newProgress).
type progress struct {
	w     io.Writer
	what  string // "renew"
	total int    // 0 when unknown
	start time.Time

	mu      sync.Mutex
	counts  map[renew.Action]int
	done    int
	printed int // done at the last line
}

// newProgress returns a progress report for total items of what on w, or
// nil when w is not a terminal or the output is JSON.
func (g *globals) newProgress(w io.Writer, what string, total int) *progress {
	f, ok := w.(*os.File)
	if !ok || g.json() || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return &progress{w: w, what: what, total: total, start: time.Now(), counts: map[renew.Action]int{}}
}

// add counts r; safe for concurrent use (renew.Service.OnResult).
func (p *progress) add(r renew.Result) {
	p.mu.Lock()
	p.done++
	p.counts[r.Action]++
	p.mu.Unlock()
}

// run writes a line at each tick until stop is closed.
func (p *progress) run(tick <-chan time.Time, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-tick:
			p.line()
		}
	}
}

// line writes the progress so far, if any was made since the last line.
func (p *progress) line() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done == p.printed {
		return
	}
	p.printed = p.done
	of := ""
	if p.total > 0 {
		of = fmt.Sprintf("/%d", p.total)
	}
	fmt.Fprintf(p.w, "%s: %d%s done (%d renewed, %d issued, %d not due, %d failed), %s\n", p.what, p.done, of,
		p.counts[renew.ActionRenewed], p.counts[renew.ActionIssued], p.counts[renew.ActionNotDue],
		p.counts[renew.ActionFailed], time.Since(p.start).Round(100*time.Millisecond))
}

// attach makes svc report to p every progressEvery and returns the function
// that stops the reports; a nil p attaches nothing.
func (p *progress) attach(svc *renew.Service) (stop func()) {
	if p == nil {
		return func() {}
	}
	svc.OnResult = p.add
	t := time.NewTicker(progressEvery)
	done := make(chan struct{})
	ended := make(chan struct{})
	go func() { defer close(ended); p.run(t.C, done) }()
	return func() { t.Stop(); close(done); <-ended }
}
