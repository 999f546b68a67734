package testpeer

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// stopGrace is how long Stop waits after SIGTERM before it sends SIGKILL.
const stopGrace = 3 * time.Second

// Process is a child process running in the background, such as a publishing
// ffmpeg. Stop it with Stop; the test's cleanup stops it too.
type Process struct {
	name   string
	cmd    *exec.Cmd
	stderr *tailBuffer

	done     chan struct{}
	waitErr  error // valid once done is closed
	stopOnce sync.Once

	mu       sync.Mutex
	stopping bool
}

// startProcess starts cmd. If onLine is not nil it receives each stdout line,
// in order, from one goroutine. Stderr goes into stderr (a new buffer if nil).
func startProcess(cmd *exec.Cmd, onLine func(string), stderr *tailBuffer) (*Process, error) {
	if stderr == nil {
		stderr = newTailBuffer(64 << 10)
	}
	p := &Process{
		name:   cmd.Path,
		cmd:    cmd,
		stderr: stderr,
		done:   make(chan struct{}),
	}
	cmd.Stderr = stderr
	cmd.SysProcAttr = childSysProcAttr()

	var stdout io.ReadCloser
	if onLine != nil {
		var err error
		stdout, err = cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	go func() {
		defer close(p.done)
		if stdout != nil {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				onLine(sc.Text())
			}
			// Drain what a too-long line left, so the child never blocks.
			_, _ = io.Copy(io.Discard, stdout)
		}
		p.waitErr = cmd.Wait()
	}()
	return p, nil
}

// Stop sends SIGTERM, waits up to 3 s, then sends SIGKILL, and waits for the
// process to exit. It is idempotent and safe to call after the process ended.
func (p *Process) Stop() {
	p.stopOnce.Do(func() {
		p.mu.Lock()
		p.stopping = true
		p.mu.Unlock()
		select {
		case <-p.done:
			return
		default:
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		t := time.NewTimer(stopGrace)
		defer t.Stop()
		select {
		case <-p.done:
		case <-t.C:
			_ = p.cmd.Process.Kill()
		}
	})
	<-p.done
}

// Kill sends SIGKILL at once, as a crashing or killed peer ends, and waits
// for the process to exit.
func (p *Process) Kill() {
	p.stopOnce.Do(func() {
		p.mu.Lock()
		p.stopping = true
		p.mu.Unlock()
		_ = p.cmd.Process.Kill()
	})
	<-p.done
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is the exit error of the process (nil for exit status 0). It blocks
// until the process has exited.
func (p *Process) Err() error {
	<-p.done
	return p.waitErr
}

// Stderr returns what the process wrote on stderr so far (the last 64 KiB).
func (p *Process) Stderr() string { return p.stderr.String() }

// exitedOnItsOwn reports whether the process ended without Stop being called.
func (p *Process) exitedOnItsOwn() bool {
	select {
	case <-p.done:
	default:
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.stopping
}

// exitCode is the exit status of an ended process, or -1 if it was killed by
// a signal or could not be waited for.
func (p *Process) exitCode() int {
	<-p.done
	if p.waitErr == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(p.waitErr, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// tailBuffer keeps the last max bytes written to it; it is safe for
// concurrent use.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
	cut bool
}

func newTailBuffer(max int) *tailBuffer { return &tailBuffer{max: max} }

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
		b.cut = true
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cut {
		return "[…]" + string(b.buf)
	}
	return string(b.buf)
}
