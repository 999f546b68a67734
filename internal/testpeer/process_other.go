//go:build !linux

package testpeer

import "syscall"

func childSysProcAttr() *syscall.SysProcAttr { return nil }
