package testpeer

import "syscall"

// childSysProcAttr makes the kernel kill a child when the test binary dies, so
// a crashed test leaves no camera or ffmpeg behind.
func childSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
