//go:build unix && !linux

package ffmpeg

import (
	"os"
	"syscall"
)

// sysProcAttr puts the child in its own process group, so that stopping
// kills what it spawned too. Only Linux can also tie it to our own death.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// signalGroup signals the process group that p leads.
func signalGroup(p *os.Process, sig syscall.Signal) error {
	return syscall.Kill(-p.Pid, sig)
}
