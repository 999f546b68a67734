package ffmpeg

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	// stopGrace is how long a stopped process group has after SIGTERM
	// before SIGKILL: ffmpeg needs a moment to close an RTSP session.
	stopGrace = 2 * time.Second
	// stderrDrain bounds the wait for stderr's end after the leader has
	// exited, in case a process outside the group still holds the pipe.
	stderrDrain = time.Second
	// tailLines is how many stderr lines are kept for the error: ffmpeg's
	// reason comes last, and at -v error it is rarely more than a few.
	tailLines = 20
)

// Runner starts ffmpeg.
type Runner struct {
	Bin       string       // program name or path; "" is "ffmpeg"
	Templates Templates    // overrides of the built-in templates; nil for none
	Log       *slog.Logger // nil discards
}

func (r *Runner) bin() string {
	if r.Bin == "" {
		return "ffmpeg"
	}
	return r.Bin
}

func (r *Runner) log() *slog.Logger {
	if r.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Log
}

// Process is a started program and its process group.
type Process struct {
	cmd  *exec.Cmd
	name string // base name of the binary, for errors and logs
	pid  int
	log  *slog.Logger

	stdout     *os.File
	stdoutOnce sync.Once
	stderr     *os.File
	stderrDone chan struct{} // closed when stderr reached its end
	tail       *tail

	stopReq  chan struct{}
	stopOnce sync.Once
	done     chan struct{} // closed once the program has exited and its group was killed; err is set before
	err      error
}

// Start starts the binary with args (no shell) in a process group of its
// own, with stdin on /dev/null and stdout readable through Stdout. When ctx
// ends or Stop is called the whole group gets SIGTERM, then SIGKILL after
// 2 s; on Linux the kernel also kills the program if rtspgate dies.
// When the program exits on its own, whatever it left in its group is
// killed too. Call Stop when done with it, even after it has exited: that
// closes Stdout.
func (r *Runner) Start(ctx context.Context, args []string) (*Process, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	bin := r.bin()
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, err
	}
	// Files, not io.Writers: exec then hands them to the child as they are
	// and Wait does not wait for copying goroutines; the reader can drain
	// stdout after the exit without racing a close.
	cmd := exec.Command(bin, args...)
	cmd.Stdout = outW
	cmd.Stderr = errW
	cmd.SysProcAttr = sysProcAttr()
	err = cmd.Start()
	// The child has its own copies; ours would keep the pipes from ending.
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &Process{
		cmd:        cmd,
		name:       filepath.Base(bin),
		pid:        cmd.Process.Pid,
		log:        r.log(),
		stdout:     outR,
		stderr:     errR,
		stderrDone: make(chan struct{}),
		tail:       &tail{max: tailLines},
		stopReq:    make(chan struct{}),
		done:       make(chan struct{}),
	}
	p.log.Debug("ffmpeg: started", "bin", bin, "pid", p.pid, "args", strings.Join(redactArgs(args), " "))
	go p.readStderr()
	go p.supervise(ctx)
	return p, nil
}

// Stdout is the program's standard output. It ends (io.EOF) when every
// process holding it has exited; after a stop, reads fail with
// os.ErrClosed.
func (p *Process) Stdout() io.Reader { return p.stdout }

// PID is the program's process ID, which is also its process group ID.
func (p *Process) PID() int { return p.pid }

// Stop ends the process group (SIGTERM, then SIGKILL after 2 s), waits
// until the program has exited, and closes Stdout. It may be called more
// than once, and after the program has exited.
func (p *Process) Stop() {
	p.stopOnce.Do(func() { close(p.stopReq) })
	<-p.done
	p.closeStdout()
}

// Wait waits for the program to exit. It returns nil when it exited with
// status 0 or was stopped (Stop, or ctx ended), and otherwise an
// *ExitError holding the last stderr lines.
func (p *Process) Wait() error {
	<-p.done
	return p.err
}

// StderrTail returns the last stderr lines so far (at most 20), with URL
// passwords masked.
func (p *Process) StderrTail() []string { return p.tail.lines() }

// signal signals the whole group; errors mean it is gone already.
func (p *Process) signal(sig syscall.Signal) { _ = signalGroup(p.cmd.Process, sig) }

func (p *Process) closeStdout() {
	p.stdoutOnce.Do(func() { p.stdout.Close() })
}

func (p *Process) readStderr() {
	defer close(p.stderrDone)
	_, _ = io.Copy(p.tail, p.stderr)
}

func (p *Process) supervise(ctx context.Context) {
	exited := make(chan error, 1)
	go func() { exited <- p.cmd.Wait() }()
	var err error
	stopped := false
	select {
	case err = <-exited:
	case <-ctx.Done():
		stopped = true
		err = p.terminate(exited)
	case <-p.stopReq:
		stopped = true
		err = p.terminate(exited)
	}
	// Whatever the leader started dies with it: no orphans.
	p.signal(syscall.SIGKILL)
	select {
	case <-p.stderrDone:
	case <-time.After(stderrDrain):
	}
	p.stderr.Close()
	switch {
	case stopped:
		p.log.Debug("ffmpeg: stopped", "pid", p.pid, "exit", fmt.Sprint(err))
	case err != nil:
		e := &ExitError{Name: p.name, Err: err, Stderr: p.tail.lines()}
		p.err = e
		p.log.Warn("ffmpeg: failed", "pid", p.pid, "bin", p.name, "err", err, "stderr", strings.Join(e.Stderr, " | "))
	default:
		p.log.Debug("ffmpeg: exited", "pid", p.pid)
	}
	close(p.done)
}

// terminate sends SIGTERM to the group, and SIGKILL if the leader has not
// exited after stopGrace; it returns the leader's exit error.
func (p *Process) terminate(exited <-chan error) error {
	// A program blocked writing a full stdout pipe gets EPIPE at once
	// instead of waiting for SIGKILL.
	p.closeStdout()
	p.signal(syscall.SIGTERM)
	t := time.NewTimer(stopGrace)
	defer t.Stop()
	select {
	case err := <-exited:
		return err
	case <-t.C:
		p.signal(syscall.SIGKILL)
		return <-exited
	}
}

// ExitError is a program that exited on its own with an error.
type ExitError struct {
	Name   string   // base name of the binary
	Err    error    // from os/exec, usually an *exec.ExitError
	Stderr []string // its last stderr lines (at most 20), URL passwords masked
}

func (e *ExitError) Error() string {
	if len(e.Stderr) == 0 {
		return fmt.Sprintf("%s: %v (nothing on stderr)", e.Name, e.Err)
	}
	return fmt.Sprintf("%s: %v: %s", e.Name, e.Err, strings.Join(e.Stderr, " | "))
}

func (e *ExitError) Unwrap() error { return e.Err }

// ExitCode is the program's exit status, or -1 if it was killed by a signal.
func (e *ExitError) ExitCode() int {
	var ee *exec.ExitError
	if errors.As(e.Err, &ee) {
		return ee.ExitCode()
	}
	return -1
}
