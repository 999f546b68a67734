package ffmpeg

import (
	"os"
	"syscall"
)

// sysProcAttr puts the child in its own process group, so that stopping
// kills what it spawned too, and has the kernel kill it if rtspgate dies
// (Pdeathsig reaches the child only, not the rest of its group).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// signalGroup signals the process group that p leads.
func signalGroup(p *os.Process, sig syscall.Signal) error {
	return syscall.Kill(-p.Pid, sig)
}
