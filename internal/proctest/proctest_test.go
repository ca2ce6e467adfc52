package proctest

import (
	"os/exec"
	"testing"
)

func TestCommand_Child_EachReportThenNil(t *testing.T) {
	// The script reports a child that has ended, then itself.
	script := Script(t, "report.sh", "sleep 0 &\necho $! > \"$1\"\nwait\necho $$ > \"$1\"\n")
	c := Start(t, func(pidPipe string) error { return exec.Command(script, pidPipe).Run() })
	for range 2 {
		p := c.Child(t)
		if p == nil {
			t.Fatalf("a report is missing; run: %v", c.Wait())
		}
		p.WaitGone(t)
	}
	if p := c.Child(t); p != nil {
		t.Errorf("Child after the last report = process %d, want nil", p.Pid)
	}
	if err := c.Wait(); err != nil {
		t.Errorf("Wait() = %v", err)
	}
}
