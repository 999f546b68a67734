//go:build linux

package ffmpeg

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pion/rtp"
)

func needFFmpeg(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("no ffmpeg in PATH")
	}
}

// makeTone writes a 2 s 440 Hz tone, 8 kHz mono, as WAV.
func makeTone(t *testing.T) string {
	t.Helper()
	needFFmpeg(t)
	path := filepath.Join(t.TempDir(), "tone.wav")
	out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=2",
		"-ar", "8000", "-ac", "1", path).CombinedOutput()
	if err != nil {
		t.Fatalf("making the tone: %v\n%s", err, out)
	}
	return path
}

func TestBackchannelAudio(t *testing.T) {
	t.Parallel()
	tone := makeTone(t)
	want, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", tone, "-f", "mulaw", "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	r := &Runner{}
	args, err := r.AudioArgs(mustParse(t, "ffmpeg:"+tone+"#audio=auto#input=file"), "PCMU")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := r.Start(ctx, args)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	var pkts []*rtp.Packet
	var first time.Time
	err = G711RTP(ctx, p.Stdout(), 0, func(pkt *rtp.Packet) error {
		if first.IsZero() {
			first = time.Now()
		}
		pkts = append(pkts, pkt)
		return nil
	})
	elapsed := time.Since(first)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	var got []byte
	for i, pkt := range pkts {
		got = append(got, pkt.Payload...)
		if pkt.PayloadType != 0 || i > 0 && pkt.SequenceNumber != pkts[i-1].SequenceNumber+1 {
			t.Fatalf("packet %d: %+v", i, pkt.Header)
		}
	}
	if n := len(got); n < 14400 || n > 17600 {
		t.Errorf("%d payload bytes, want 16000 ±10%%", n)
	}
	if elapsed < 1600*time.Millisecond {
		t.Errorf("2 s of audio went out in %v: faster than real time", elapsed)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("payload (%d bytes) differs from ffmpeg's own G.711 of the tone (%d bytes)", len(got), len(want))
	}
	t.Logf("%d packets, %d bytes in %v", len(pkts), len(got), elapsed)
}

func TestFailingFFmpeg(t *testing.T) {
	t.Parallel()
	needFFmpeg(t)
	r := &Runner{}
	missing := filepath.Join(t.TempDir(), "missing.mp3")
	args, err := r.AudioArgs(mustParse(t, "ffmpeg:"+missing), "PCMA")
	if err != nil {
		t.Fatal(err)
	}
	p, err := r.Start(context.Background(), args)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	if err := G711RTP(context.Background(), p.Stdout(), 8, func(*rtp.Packet) error {
		return errors.New("no packet expected")
	}); err != nil {
		t.Fatal(err)
	}
	err = p.Wait()
	var ee *ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("Wait = %v, want an *ExitError", err)
	}
	if !strings.Contains(err.Error(), "No such file or directory") || !strings.Contains(err.Error(), missing) {
		t.Errorf("error does not hold the stderr lines: %q", err)
	}
	if ee.ExitCode() <= 0 || len(ee.Stderr) == 0 {
		t.Errorf("exit code %d, stderr %q", ee.ExitCode(), ee.Stderr)
	}
}

func TestStartMissingBinary(t *testing.T) {
	t.Parallel()
	r := &Runner{Bin: filepath.Join(t.TempDir(), "no-ffmpeg")}
	if _, err := r.Start(context.Background(), nil); err == nil {
		t.Fatal("started a missing binary")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (&Runner{}).Start(ctx, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Start with a done ctx: %v", err)
	}
}

// reapable makes this test process the reaper of orphans, so that the
// group's grandchildren can be waited for here: this machine's init may
// never reap them, and a zombie still answers kill(pid, 0).
func reapable(t *testing.T) {
	t.Helper()
	const prSetChildSubreaper = 36
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		t.Skipf("PR_SET_CHILD_SUBREAPER: %v", errno)
	}
}

// gone reports whether pid no longer exists, reaping it if it is an
// orphan that ended up as our child.
func gone(pid int) bool {
	var ws syscall.WaitStatus
	_, _ = syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

func waitGone(t *testing.T, within time.Duration, pids ...int) {
	t.Helper()
	deadline := time.Now().Add(within)
	for _, pid := range pids {
		for !gone(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("pid %d still exists after %v", pid, within)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func TestCancelKillsFFmpeg(t *testing.T) {
	t.Parallel()
	needFFmpeg(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, err := (&Runner{}).Start(ctx, []string{"-nostdin", "-v", "error", "-re", "-f", "lavfi", "-i", "sine=duration=60", "-f", "null", "-"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	time.Sleep(300 * time.Millisecond)
	if gone(p.PID()) {
		t.Fatalf("ffmpeg ended early: %v %q", p.Wait(), p.StderrTail())
	}
	cancel()
	waitGone(t, 5*time.Second, p.PID())
	if err := p.Wait(); err != nil {
		t.Errorf("Wait after cancel = %v, want nil", err)
	}
}

// startShell runs script with /bin/sh through a Runner and returns the
// PIDs it prints, one a line.
func startShell(t *testing.T, ctx context.Context, script string, n int) (*Process, []int) {
	t.Helper()
	p, err := (&Runner{Bin: "/bin/sh"}).Start(ctx, []string{"-c", script})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	sc := bufio.NewScanner(p.Stdout())
	var pids []int
	for len(pids) < n && sc.Scan() {
		pid, err := strconv.Atoi(strings.TrimSpace(sc.Text()))
		if err != nil {
			t.Fatalf("shell printed %q", sc.Text())
		}
		pids = append(pids, pid)
	}
	if len(pids) < n {
		t.Fatalf("shell printed %d PIDs, want %d: %v %q", len(pids), n, sc.Err(), p.StderrTail())
	}
	return p, pids
}

func TestCancelKillsGroup(t *testing.T) {
	reapable(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, pids := startShell(t, ctx, "sleep 60 & echo $!; sleep 60 & echo $!; wait", 2)
	for _, pid := range pids {
		if gone(pid) {
			t.Fatalf("sleep %d not running", pid)
		}
	}
	cancel()
	waitGone(t, 5*time.Second, append(pids, p.PID())...)
	if err := p.Wait(); err != nil {
		t.Errorf("Wait after cancel = %v, want nil", err)
	}
}

func TestStopEscalatesToKill(t *testing.T) {
	reapable(t)
	// Ignored SIGTERM is inherited by the sleep: only SIGKILL ends them.
	p, pids := startShell(t, context.Background(), "trap '' TERM; sleep 60 & echo $!; wait", 1)
	start := time.Now()
	p.Stop()
	took := time.Since(start)
	if took < stopGrace-100*time.Millisecond || took > stopGrace+2*time.Second {
		t.Errorf("Stop took %v, want about %v", took, stopGrace)
	}
	waitGone(t, 2*time.Second, append(pids, p.PID())...)
	p.Stop() // again: a no-op
}

func TestExitKillsLeftovers(t *testing.T) {
	reapable(t)
	// The shell exits at once and leaves a sleep behind in its group.
	p, pids := startShell(t, context.Background(), "sleep 60 & echo $!; echo oops >&2; exit 3", 1)
	err := p.Wait()
	var ee *ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 || !strings.Contains(err.Error(), "sh: exit status 3: oops") {
		t.Fatalf("Wait = %v", err)
	}
	waitGone(t, 2*time.Second, pids...)
}

func TestSourceArgsRun(t *testing.T) {
	t.Parallel()
	needFFmpeg(t)
	dir := t.TempDir()
	r := &Runner{Templates: Templates{"output": "-f matroska {output}"}}
	for i, src := range []string{
		"ffmpeg:testsrc2=size=160x120:rate=10:duration=1#input=-f lavfi -i {input}#video=h264",
		"ffmpeg:sine=duration=1#input=-f lavfi -i {input}#audio=aac#audio=opus#audio=pcma",
	} {
		out := filepath.Join(dir, strconv.Itoa(i)+".mkv")
		args, err := r.SourceArgs(mustParse(t, src), out)
		if err != nil {
			t.Fatal(err)
		}
		p, err := r.Start(context.Background(), args)
		if err != nil {
			t.Fatal(err)
		}
		err = p.Wait()
		p.Stop()
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		probe, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0", out).Output()
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"h264\n", "aac\nopus\npcm_alaw\n"}[i]
		if string(probe) != want {
			t.Errorf("%s: streams %q, want %q", src, probe, want)
		}
	}
}
