//go:build !unix

package renew

import (
	"os"
	"os/exec"
)

// hookSetProcessGroup does nothing where process groups are not available.
func hookSetProcessGroup(*exec.Cmd) {}

// hookKillGroup kills p only: processes it started may survive it.
func hookKillGroup(p *os.Process) error { return p.Kill() }
