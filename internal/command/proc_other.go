//go:build !unix

package command

import (
	"os"
	"os/exec"
)

// setProcessGroup does nothing where process groups are not available.
func setProcessGroup(*exec.Cmd) {}

// killProcessGroup kills p only: processes it started may survive it.
func killProcessGroup(p *os.Process) error { return p.Kill() }
