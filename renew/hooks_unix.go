//go:build unix

package renew

import (
	"os"
	"os/exec"
	"syscall"
)

// hookSetProcessGroup makes cmd the leader of a new process group, so that
// hookKillGroup reaches every process it starts.
func hookSetProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// hookKillGroup kills the process group led by p.
func hookKillGroup(p *os.Process) error {
	if err := syscall.Kill(-p.Pid, syscall.SIGKILL); err != nil && err != syscall.ESRCH {
		return p.Kill()
	}
	return nil
}
