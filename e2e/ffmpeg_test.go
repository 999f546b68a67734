package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rtspgate/rtspgate/internal/app"
	"github.com/rtspgate/rtspgate/internal/config"
	"github.com/rtspgate/rtspgate/internal/testpeer"
)

// ffmpegStarted finds the PID the ffmpeg source logs when it starts one.
var ffmpegStarted = regexp.MustCompile(`msg="ffmpeg started".* pid=(\d+)`)

// startedPIDs are the PIDs of every "ffmpeg started" line in logs.
func startedPIDs(logs string) []int {
	var pids []int
	for _, m := range ffmpegStarted.FindAllStringSubmatch(logs, -1) {
		if pid, err := strconv.Atoi(m[1]); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// processGone reports whether pid has ended: no such process, or a zombie
// (this machine's PID 1 may never reap an orphan).
func processGone(pid int) bool {
	if errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
		return true
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return errors.Is(err, os.ErrNotExist)
	}
	// the state follows the command name in parentheses
	i := bytes.LastIndexByte(b, ')')
	return i > 0 && i+2 < len(b) && b[i+2] == 'Z'
}

// waitProcessGone fails the test unless every pid ends within d.
func waitProcessGone(t *testing.T, d time.Duration, what string, pids ...int) {
	t.Helper()
	deadline := time.Now().Add(d)
	for _, pid := range pids {
		for !processGone(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("ffmpeg pid %d still runs %v after %s", pid, d, what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// isFFmpeg reports whether pid runs ffmpeg now.
func isFFmpeg(pid int) bool {
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return err == nil && strings.TrimSpace(string(comm)) == "ffmpeg" && !processGone(pid)
}

// TestFFmpegSources: ffmpeg: sources read a file (copied, and
// transcoded), a camera with credentials, and another stream of the same
// gateway; readers see what ffmpeg made of them. A failing ffmpeg leaves
// its stderr in the log.
func TestFFmpegSources(t *testing.T) {
	t.Parallel()
	clip := testpeer.TestClip(t, 4)
	const pass = "ff-s3cret"
	cam := testpeer.StartCamera(t, testpeer.CameraOptions{Path: "/live/ch00_1", Audio: "aac", User: "username", Password: pass})
	camURL := strings.Replace(cam.URL, "rtsp://", "rtsp://username:"+pass+"@", 1)
	yml := "streams:\n" +
		"  file: ffmpeg:" + clip + "\n" +
		"  transcoded: ffmpeg:" + clip + "#video=h264#audio=pcma\n" +
		"  glichy_camera: ffmpeg:" + camURL + "\n" +
		"  other: ffmpeg:file#video=copy#audio=pcmu\n" +
		"  broken: ffmpeg:" + filepath.Join(t.TempDir(), "nosuch.mp4") + "#input=file\n"
	gw := startGateway(t, yml, gatewayOpts{})
	for _, c := range []struct{ name, want string }{
		{"file", "video:h264,audio:aac"},
		{"transcoded", "video:h264,audio:pcm_alaw"},
		{"glichy_camera", "video:h264,audio:aac"},
		{"other", "video:h264,audio:pcm_mulaw"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			streams, err := testpeer.FFprobe(ctx, gw.URL+c.name, "tcp")
			if err != nil {
				t.Fatal(err)
			}
			if got := codecsOf(streams); got != c.want {
				t.Fatalf("%s through rtspgate: %s, want %s", c.name, got, c.want)
			}
			if streams[0].Width != 320 || streams[0].Height != 240 {
				t.Errorf("video %dx%d, want 320x240", streams[0].Width, streams[0].Height)
			}
		})
	}
	t.Run("broken", func(t *testing.T) {
		t.Parallel()
		if _, err := testpeer.FFprobe(context.Background(), gw.URL+"broken", "tcp"); err == nil {
			t.Fatal("a stream whose ffmpeg fails was served")
		}
		gw.logs.waitFor(t, "ffmpeg's stderr", 10*time.Second, func(s string) bool {
			return strings.Contains(s, "nosuch.mp4: No such file or directory")
		})
	})
	t.Cleanup(func() {
		if logs := gw.logs.String(); strings.Contains(logs, pass) {
			t.Errorf("the camera password appears in the log:\n%s", logs)
		}
	})
}

// TestFFmpegSelfReference: a stream that reads itself is refused at
// load, naming the stream.
func TestFFmpegSelfReference(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse("test.yaml", []byte("streams:\n  cam: ffmpeg:cam#video=h264\n"), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	cfg.RTSP.Listen, cfg.API.Listen = "127.0.0.1:0", ""
	cfg.RTSP.RTPAddress, cfg.RTSP.RTCPAddress = "", ""
	a, err := app.Start(cfg, app.Options{}, slog.New(slog.DiscardHandler))
	if err == nil {
		a.Close()
		t.Fatal("cam: ffmpeg:cam was accepted")
	}
	if msg := err.Error(); !strings.Contains(msg, "streams.cam") || !strings.Contains(msg, "reads itself") {
		t.Errorf("error %q does not name streams.cam and the loop", msg)
	}
}

// TestFFmpegStopsWithLastReader: ffmpeg runs only while the stream has
// readers, and is gone within 10 s of the last one leaving.
func TestFFmpegStopsWithLastReader(t *testing.T) {
	t.Parallel()
	cam := testpeer.StartCamera(t, testpeer.CameraOptions{Path: "/cam"})
	gw := startGateway(t, "streams:\n  cam: ffmpeg:"+cam.URL+"#video=copy\n", gatewayOpts{grace: 500 * time.Millisecond})
	time.Sleep(300 * time.Millisecond)
	if pids := startedPIDs(gw.logs.String()); len(pids) > 0 {
		t.Fatalf("ffmpeg started with no reader: %v", pids)
	}
	reader := testpeer.StartReader(t, gw.URL+"cam")
	var pid int
	gw.logs.waitFor(t, "ffmpeg started", 15*time.Second, func(s string) bool {
		pids := startedPIDs(s)
		if len(pids) > 0 {
			pid = pids[len(pids)-1]
		}
		return pid > 0
	})
	// the reader gets video from it, and ffmpeg keeps running meanwhile
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	frames, errLines, err := testpeer.DecodeCheck(ctx, gw.URL+"cam", "tcp", 1)
	if err != nil || frames < 10 {
		t.Fatalf("reading the ffmpeg stream: %d frames, %v %v", frames, err, errLines)
	}
	if !isFFmpeg(pid) {
		t.Fatalf("pid %d is not a running ffmpeg while a reader is on", pid)
	}
	reader.Kill() // SIGKILL: no TEARDOWN, the connection just drops
	waitProcessGone(t, 10*time.Second, "the last reader was killed", pid)
	if n := len(startedPIDs(gw.logs.String())); n != 1 {
		t.Errorf("%d ffmpeg processes were started for one reader, want 1", n)
	}
}

// TestFFmpegGoneAfterSIGTERM: the real binary, stopped with SIGTERM
// while ffmpeg runs for a reader, leaves no ffmpeg behind.
func TestFFmpegGoneAfterSIGTERM(t *testing.T) {
	clip := testpeer.TestClip(t, 4)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "rtspgate.yaml")
	yml := fmt.Sprintf("streams:\n  loop: ffmpeg:%s#input=loop\n"+
		"rtsp:\n  listen: 127.0.0.1:0\napi:\n  listen: \"\"\n"+
		"ffmpeg:\n  loop: \"-re -stream_loop -1 -i {input}\"\n", clip)
	if err := os.WriteFile(cfgPath, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	pids := make(chan int, 10)
	logs := make(chan string, 1000)
	listening := make(chan string, 1)
	b := startBinary(t, dir, nil, func(line string) {
		select {
		case logs <- line:
		default:
		}
		if strings.Contains(line, "RTSP server listening") {
			listening <- line
		}
		for _, pid := range startedPIDs(line) {
			pids <- pid
		}
	}, "-c", cfgPath)
	t.Cleanup(func() {
		select {
		case <-b.exited:
		default:
			_ = b.cmd.Process.Kill()
			<-b.exited
		}
		if t.Failed() {
			t.Logf("rtspgate log:\n%s", drain(logs))
		}
	})

	url := b.waitListenURL(t, listening) + "loop"
	testpeer.StartReader(t, url) // ffmpeg runs while it reads
	var pid int
	select {
	case pid = <-pids:
	case <-time.After(15 * time.Second):
		t.Fatal("no ffmpeg started for the reader within 15 s")
	}
	if !isFFmpeg(pid) {
		t.Fatalf("pid %d is not a running ffmpeg", pid)
	}
	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitProcessGone(t, 10*time.Second, "rtspgate got SIGTERM", pid)
	select {
	case <-b.exited:
		if b.exitErr != nil {
			t.Errorf("rtspgate exited with %v after SIGTERM, want a clean exit", b.exitErr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("rtspgate did not exit within 10 s of SIGTERM")
	}
}

// TestFFmpegTemplatesFromConfig: a codec template under ffmpeg: in the
// config replaces the built-in one, and ffmpeg really runs it: "pcma"
// overridden to encode µ-law comes out as µ-law.
func TestFFmpegTemplatesFromConfig(t *testing.T) {
	t.Parallel()
	clip := testpeer.TestClip(t, 4)
	yml := "streams:\n  cam: ffmpeg:" + clip + "#video=copy#audio=pcma\n" +
		"ffmpeg:\n  pcma: \"-c:a pcm_mulaw -ar:a 8000 -ac:a 1\"\n"
	gw := startGateway(t, yml, gatewayOpts{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	streams, err := testpeer.FFprobe(ctx, gw.URL+"cam", "tcp")
	if err != nil {
		t.Fatal(err)
	}
	if got := codecsOf(streams); got != "video:h264,audio:pcm_mulaw" {
		t.Fatalf("through rtspgate: %s, want the overriding template's pcm_mulaw", got)
	}
}
