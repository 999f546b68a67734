package e2e

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rtspgate/rtspgate/internal/testpeer"
)

// TestDemoBinary runs the real binary with no config in an empty folder:
// it must log the URL to open and serve "demo" to ffprobe.
func TestDemoBinary(t *testing.T) {
	urlCh := make(chan string, 1)
	logs := make(chan string, 100)
	b := startBinary(t, t.TempDir(), nil, func(line string) {
		select {
		case logs <- line:
		default:
		}
		if i := strings.Index(line, "ffplay rtsp://"); i >= 0 {
			u := strings.TrimSuffix(line[i+len("ffplay "):], `"`)
			select {
			case urlCh <- u:
			default:
			}
		}
	})
	t.Cleanup(func() { b.stop(t) })
	var url string
	select {
	case url = <-urlCh:
	case <-b.exited:
		t.Fatalf("rtspgate exited at start: %v\n%s", b.exitErr, drain(logs))
	case <-time.After(15 * time.Second):
		t.Fatal("rtspgate did not log the demo URL within 15 s")
	}
	if url != "rtsp://127.0.0.1:8554/demo" {
		t.Errorf("logged URL %q, want rtsp://127.0.0.1:8554/demo", url)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-rtsp_transport", "tcp",
		"-show_entries", "stream=codec_type,codec_name,width,height", "-of", "compact", url).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe: %v\n%s", err, out)
	}
	got := string(out)
	for _, want := range []string{"codec_name=h264|codec_type=video|width=640|height=360", "codec_name=pcm_alaw|codec_type=audio"} {
		if !strings.Contains(got, want) {
			t.Errorf("ffprobe output lacks %q:\n%s", want, got)
		}
	}
}

// buildBinary builds cmd/rtspgate once per test binary.
func buildBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "rtspgate-bin")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "rtspgate")
		out, err := exec.Command("go", "build", "-o", binPath, "../cmd/rtspgate").CombinedOutput()
		if err != nil {
			binErr = &buildError{out: string(out), err: err}
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// binary is the real rtspgate running as a child process.
type binary struct {
	cmd     *exec.Cmd
	exited  chan struct{} // closed once it has exited
	exitErr error         // valid once exited is closed
	stopped bool
}

// startBinary starts the built rtspgate with args in dir, with env added to
// the environment (the last value wins), and hands each line it writes on
// stderr, in order, to onLine from one goroutine. exited is closed after the
// last line, once the process has been waited for. The test's cleanup does
// not stop it: use stop or the process directly.
func startBinary(t *testing.T, dir string, env []string, onLine func(string), args ...string) *binary {
	t.Helper()
	cmd := exec.Command(buildBinary(t), args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b := &binary{cmd: cmd, exited: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			onLine(sc.Text())
		}
		b.exitErr = cmd.Wait()
		close(b.exited)
	}()
	return b
}

var listening = regexp.MustCompile(`msg="RTSP server listening" addr=(\S+)`)

// listenURL is rtsp://ADDR/ of the binary's "RTSP server listening" line:
// the tests' binaries listen on port 0, so that no other test can take
// their port between its choice and its use.
func listenURL(t *testing.T, line string) string {
	t.Helper()
	m := listening.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no listen address in %q", line)
	}
	return "rtsp://" + m[1] + "/"
}

// waitListenURL waits up to 15 s for the "RTSP server listening" line that
// the test's line handler sends on listening, and returns its listenURL.
func (b *binary) waitListenURL(t *testing.T, listening <-chan string) string {
	t.Helper()
	select {
	case line := <-listening:
		return listenURL(t, line)
	case <-b.exited:
		t.Fatalf("rtspgate exited at start: %v", b.exitErr)
	case <-time.After(15 * time.Second):
		t.Fatal("rtspgate did not log that it listens within 15 s")
	}
	return ""
}

// stop sends SIGTERM and wants a clean exit within 10 s; past that it kills
// the binary. Only the first call does anything.
func (b *binary) stop(t *testing.T) {
	if b.stopped {
		return
	}
	b.stopped = true
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.exited:
		if b.exitErr != nil {
			t.Errorf("rtspgate exited with %v after SIGTERM, want a clean exit", b.exitErr)
		}
	case <-time.After(10 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.exited
		t.Error("rtspgate did not stop within 10 s of SIGTERM")
	}
}

func drain(ch chan string) string {
	var b strings.Builder
	for {
		select {
		case l := <-ch:
			b.WriteString(l + "\n")
		default:
			return b.String()
		}
	}
}

// TestBadConfigNamesFileLineAndKey: a bad file stops start-up with one
// message naming the file, line and key, and never the password.
func TestBadConfigNamesFileLineAndKey(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.yaml")
	yml := "streams:\n  ok: rtsp://127.0.0.1/x\n  cam: rtsp://admin:hunter2@127.0.0.1/x#timeout=abc\n"
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-c", path).CombinedOutput()
	if err == nil {
		t.Fatalf("rtspgate started with a bad config:\n%s", out)
	}
	msg := string(out)
	if !strings.Contains(msg, path+":3:") || !strings.Contains(msg, "streams.cam") || !strings.Contains(msg, "timeout") {
		t.Errorf("message does not name file, line 3 and key streams.cam / timeout:\n%s", msg)
	}
	if strings.Contains(msg, "hunter2") {
		t.Errorf("message shows the password:\n%s", msg)
	}
}

// TestUnsupportedSourcesAreSkipped: a config written for the original with
// kinds of sources not built yet still starts; those sources are skipped
// TestCameraURLsNeverLogged: the ws:// and ffmpeg: sources' passwords stay
// out of the log while they are opened and run, and the demo plays beside
// them (their cameras are not there).
func TestCameraURLsNeverLogged(t *testing.T) {
	t.Parallel()
	gw := startGateway(t, "streams:\n  ws: rtsp://127.0.0.1:9/x#transport=ws://user:wspass@127.0.0.1:9/rtsp-over-websocket\n  ff: ffmpeg:rtsp://user:ffpass@127.0.0.1:9/y\n", gatewayOpts{demo: true})
	for _, name := range []string{"ws", "ff"} {
		if _, err := testpeer.FFprobe(context.Background(), gw.URL+name, "tcp"); err == nil {
			t.Errorf("%s played with no camera there", name)
		}
	}
	if _, err := testpeer.FFprobe(context.Background(), gw.URL+"demo", "tcp"); err != nil {
		t.Fatalf("demo beside failing sources: %v", err)
	}
	logs := gw.logs.String()
	if strings.Contains(logs, "wspass") || strings.Contains(logs, "ffpass") {
		t.Fatalf("a password appears in the log:\n%s", logs)
	}
}

// TestTrailingSlashIsTheSameStream: rtsp://host/demo/ is rtsp://host/demo.
func TestTrailingSlashIsTheSameStream(t *testing.T) {
	t.Parallel()
	gw := startGateway(t, "", gatewayOpts{demo: true})
	streams, err := testpeer.FFprobe(context.Background(), gw.URL+"demo/", "tcp")
	if err != nil {
		t.Fatal(err)
	}
	if got := codecsOf(streams); got != "video:h264,audio:pcm_alaw" {
		t.Fatalf("demo/ gave %s, want video:h264,audio:pcm_alaw", got)
	}
}

// TestSIGTERMWhileStarting: a service manager may stop rtspgate a moment
// after starting it. A SIGTERM at any point of the start ends it cleanly
// with exit status 0, not killed by the signal:
//   - while it reads its config: the config is a FIFO, which the test opens
//     for writing, so the binary is in the middle of reading it, and never
//     writes to (a read that blocks must not keep the signal out);
//   - as soon as it logs its first line (the config loaded, before any
//     source or listener starts): it does not start them, or starts and
//     then stops them cleanly, as the signal comes before or after.
func TestSIGTERMWhileStarting(t *testing.T) {
	t.Parallel()
	yml := "rtsp:\n  listen: 127.0.0.1:0\napi:\n  listen: \"\"\nstreams:\n  x:\n"
	t.Run("config read blocked", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		fifo := filepath.Join(dir, "rtspgate.yaml")
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			t.Fatal(err)
		}
		var lines logBuffer
		b := startBinary(t, dir, nil, func(line string) { lines.Write([]byte(line + "\n")) }, "-c", "rtspgate.yaml")
		opened := make(chan *os.File, 1)
		go func() {
			// returns once the binary has opened the FIFO to read it
			f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
			if err != nil {
				t.Error(err)
			}
			opened <- f
		}()
		select {
		case f := <-opened:
			defer f.Close()
		case <-b.exited:
			t.Fatalf("rtspgate exited before reading its config: %v\n%s", b.exitErr, lines.String())
		case <-time.After(10 * time.Second):
			t.Fatal("rtspgate did not open its config within 10 s")
		}
		_ = b.cmd.Process.Signal(syscall.SIGTERM)
		wantCleanExit(t, b, &lines)
	})
	t.Run("first log line", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "rtspgate.yaml"), []byte(yml), 0o600); err != nil {
			t.Fatal(err)
		}
		var lines logBuffer
		var b *binary
		started := make(chan struct{})
		var once sync.Once
		b = startBinary(t, dir, nil, func(line string) {
			once.Do(func() {
				<-started
				_ = b.cmd.Process.Signal(syscall.SIGTERM)
			})
			lines.Write([]byte(line + "\n"))
		}, "-c", "rtspgate.yaml")
		close(started)
		wantCleanExit(t, b, &lines)
		// the signal may come before the listeners start (then they are
		// not started) or after (then they are stopped)
		if log := lines.String(); !strings.Contains(strings.SplitN(log, "\n", 2)[0], "config loaded") ||
			!strings.Contains(log, "msg=stopped") && !strings.Contains(log, `msg="stopped before starting`) {
			t.Fatalf("want the config loaded first and a clean stop last:\n%s", log)
		}
	})
}

// wantCleanExit wants b, sent a SIGTERM, to exit with status 0 within 10 s
// (a second SIGTERM would kill it: that is what a second one is for).
func wantCleanExit(t *testing.T, b *binary, lines *logBuffer) {
	t.Helper()
	select {
	case <-b.exited:
	case <-time.After(10 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.exited
		t.Fatalf("rtspgate did not stop within 10 s of a SIGTERM at start:\n%s", lines.String())
	}
	if b.exitErr != nil {
		t.Fatalf("rtspgate exited with %v after a SIGTERM at start, want a clean exit:\n%s", b.exitErr, lines.String())
	}
}
