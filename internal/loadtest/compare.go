package loadtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/base"
)

// CompareConfig describes a comparison of a target server against the relay
// for several reader counts.
type CompareConfig struct {
	// Readers are the reader counts, each 1..MaxReaders.
	Readers []int
	// Duration, Warmup, Input, FPS and Audio are as in RunConfig.
	Duration, Warmup time.Duration
	Input            *Input
	FPS              int
	Audio            bool

	// RelayCommand starts the relay; "-listen 127.0.0.1:0" is appended. The
	// process must print "listening on ADDR" as its first line on stdout.
	RelayCommand []string
	// RelayLog receives the relay's log (stderr); discarded if nil.
	RelayLog io.Writer
	// RelayPath is the path published to and played from the relay.
	RelayPath string
	// SkipRelay measures only the target.
	SkipRelay bool

	// TargetURL is the target's stream; empty to measure only the relay.
	TargetURL string
	// TargetPlayURLs are the streams the target's readers play, each
	// measured in turn; empty for TargetURL. The relay always plays its
	// RelayPath.
	TargetPlayURLs []string
	// Transports are the target readers' transports, each measured in turn
	// (TransportTCP if empty). The relay is measured once per reader count,
	// over TCP (it refuses UDP).
	Transports []string
	// TargetPID is a running target; or else TargetCommand is started fresh
	// for every reader count and ended afterwards.
	TargetPID     int
	TargetCommand []string
	// TargetLog receives the output of TargetCommand; discarded if nil.
	TargetLog io.Writer

	// Pause separates runs so that sockets in TIME_WAIT and GC settle.
	Pause time.Duration
	// Report receives every run's text and JSON line as it ends; may be nil.
	Report io.Writer
	Logger *slog.Logger
}

// CompareRow is one reader count, transport and play URL: its target and
// relay results (either may be nil when not measured). Rows of one reader
// count share the relay's result.
type CompareRow struct {
	Readers   int
	Transport string
	// PlayURL is what the target's readers played (TargetURL unless
	// TargetPlayURLs says otherwise), without credentials.
	PlayURL string
	Target  *Result
	Relay   *Result
}

// Compare runs, for each reader count, the relay and then the target once
// per play URL and transport, the target restarted for each when it is a
// command.
func Compare(ctx context.Context, cfg CompareConfig) ([]CompareRow, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Report == nil {
		cfg.Report = io.Discard
	}
	if cfg.RelayPath == "" {
		cfg.RelayPath = "/bench"
	}
	if !strings.HasPrefix(cfg.RelayPath, "/") {
		cfg.RelayPath = "/" + cfg.RelayPath
	}
	if len(cfg.Readers) == 0 {
		return nil, errors.New("no reader counts")
	}
	for _, n := range cfg.Readers {
		if n < 1 || n > MaxReaders {
			return nil, fmt.Errorf("readers %d: want 1..%d", n, MaxReaders)
		}
	}
	if len(cfg.Transports) == 0 {
		cfg.Transports = []string{TransportTCP}
	}
	for _, tr := range cfg.Transports {
		if tr != TransportTCP && tr != TransportUDP {
			return nil, fmt.Errorf("transport %q: want %s or %s", tr, TransportTCP, TransportUDP)
		}
	}
	if len(cfg.TargetPlayURLs) == 0 {
		cfg.TargetPlayURLs = []string{cfg.TargetURL}
	}
	hasTarget := cfg.TargetURL != ""
	switch {
	case hasTarget && cfg.TargetPID == 0 && len(cfg.TargetCommand) == 0:
		return nil, errors.New("target URL given without a target PID or command")
	case !hasTarget && (cfg.TargetPID != 0 || len(cfg.TargetCommand) != 0):
		return nil, errors.New("target PID or command given without a target URL")
	case !hasTarget && cfg.SkipRelay:
		return nil, errors.New("nothing to measure")
	case !cfg.SkipRelay && len(cfg.RelayCommand) == 0:
		return nil, errors.New("no relay command")
	}

	var rows []CompareRow
	runs := 0
	pause := func() {
		if runs > 0 {
			sleepCtx(ctx, cfg.Pause)
		}
		runs++
	}
	for _, n := range cfg.Readers {
		var relay *Result
		if !cfg.SkipRelay {
			pause()
			res, err := cfg.runRelay(ctx, n)
			if err != nil {
				return rows, fmt.Errorf("relay, %d readers: %w", n, err)
			}
			relay = res
		}
		if !hasTarget {
			rows = append(rows, CompareRow{Readers: n, Transport: TransportTCP, Relay: relay})
			continue
		}
		for _, play := range cfg.TargetPlayURLs {
			for _, tr := range cfg.Transports {
				pause()
				res, err := cfg.runTarget(ctx, n, play, tr)
				if err != nil {
					return rows, fmt.Errorf("target, %d %s readers of %s: %w", n, tr, redact(play), err)
				}
				rows = append(rows, CompareRow{Readers: n, Transport: tr, PlayURL: redact(play), Target: res, Relay: relay})
			}
		}
	}
	return rows, nil
}

// redact drops the credentials of a URL.
func redact(rawURL string) string {
	if u, err := base.ParseURL(rawURL); err == nil {
		return u.CloneWithoutCredentials().String()
	}
	return rawURL
}

func (cfg *CompareConfig) runConfig(url string, readers, pid int) RunConfig {
	return RunConfig{
		URL: url, Readers: readers, Duration: cfg.Duration, Warmup: cfg.Warmup, PID: pid,
		Input: cfg.Input, FPS: cfg.FPS, Audio: cfg.Audio, Logger: cfg.Logger,
	}
}

func (cfg *CompareConfig) report(what string, res *Result) {
	fmt.Fprintf(cfg.Report, "## %s, %d %s readers\n%s%s\n\n", what, res.Readers, res.transport(), res.Text(), res.JSON())
}

func (cfg *CompareConfig) runRelay(ctx context.Context, readers int) (*Result, error) {
	args := append(append([]string(nil), cfg.RelayCommand...), "-listen", "127.0.0.1:0")
	cmd := exec.Command(args[0], args[1:]...)
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = pw
	if cfg.RelayLog != nil {
		cmd.Stderr = cfg.RelayLog
	}
	p, err := startProcess(cmd)
	pw.Close()
	if err != nil {
		pr.Close()
		return nil, fmt.Errorf("start relay: %w", err)
	}
	defer func() {
		p.stop()
		pr.Close()
	}()

	br := bufio.NewReader(pr)
	addr, err := readListenLine(br, 10*time.Second)
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	p.drain(br)
	res, err := Run(ctx, cfg.runConfig("rtsp://"+addr+cfg.RelayPath, readers, cmd.Process.Pid))
	if err != nil {
		return nil, err
	}
	cfg.report("relay", res)
	return res, nil
}

func (cfg *CompareConfig) runTarget(ctx context.Context, readers int, playURL, transport string) (*Result, error) {
	pid := cfg.TargetPID
	if pid == 0 {
		cmd := exec.Command(cfg.TargetCommand[0], cfg.TargetCommand[1:]...)
		if cfg.TargetLog != nil {
			cmd.Stdout, cmd.Stderr = cfg.TargetLog, cfg.TargetLog
		}
		p, err := startProcess(cmd)
		if err != nil {
			return nil, fmt.Errorf("start target: %w", err)
		}
		defer p.stop()
		if err := waitTCP(ctx, cfg.TargetURL, 15*time.Second, p.exited); err != nil {
			return nil, fmt.Errorf("target: %w", err)
		}
		pid = cmd.Process.Pid
	}
	rc := cfg.runConfig(cfg.TargetURL, readers, pid)
	rc.Transport = transport
	if playURL != cfg.TargetURL {
		rc.PlayURL = playURL
	}
	res, err := Run(ctx, rc)
	if err != nil {
		return nil, err
	}
	cfg.report("target", res)
	return res, nil
}

// process is a child started by Compare; stop ends it by its PID.
type process struct {
	cmd    *exec.Cmd
	exited chan struct{}
	// drained is closed when the stdout drain, if any, has finished.
	drained chan struct{}
}

func startProcess(cmd *exec.Cmd) (*process, error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// drain reads r to its end in the background (stop waits for it).
func (p *process) drain(r io.Reader) {
	p.drained = make(chan struct{})
	go func() {
		defer close(p.drained)
		io.Copy(io.Discard, r)
	}()
}

// stop sends SIGTERM, then SIGKILL after 5 s, and waits for the exit.
func (p *process) stop() {
	select {
	case <-p.exited:
	default:
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(5 * time.Second):
			p.cmd.Process.Kill()
			<-p.exited
		}
	}
	if p.drained != nil {
		<-p.drained
	}
}

// readListenLine reads "listening on ADDR" from the relay's stdout.
func readListenLine(br *bufio.Reader, timeout time.Duration) (string, error) {
	type line struct {
		s   string
		err error
	}
	ch := make(chan line, 1)
	go func() {
		s, err := br.ReadString('\n')
		ch <- line{s, err}
	}()
	select {
	case l := <-ch:
		addr, ok := strings.CutPrefix(strings.TrimSpace(l.s), "listening on ")
		if !ok {
			return "", fmt.Errorf("unexpected first line %q (%v)", l.s, l.err)
		}
		return addr, nil
	case <-time.After(timeout):
		return "", errors.New("no address printed")
	}
}

// waitTCP waits until the host of rawURL accepts TCP connections.
func waitTCP(ctx context.Context, rawURL string, timeout time.Duration, exited <-chan struct{}) error {
	u, err := base.ParseURL(rawURL)
	if err != nil {
		return err
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "554")
	}
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", host, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not reachable after %v: %w", host, timeout, err)
		}
		select {
		case <-exited:
			return errors.New("process exited before listening")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
