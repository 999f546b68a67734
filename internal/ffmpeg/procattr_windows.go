package ffmpeg

import (
	"os"
	"syscall"
)

// sysProcAttr has no process groups to ask for on Windows.
func sysProcAttr() *syscall.SysProcAttr { return nil }

// signalGroup kills the program itself: Windows has neither SIGTERM nor
// process groups that os/exec can signal, so children may outlive it.
func signalGroup(p *os.Process, _ syscall.Signal) error { return p.Kill() }
