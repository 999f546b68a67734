package e2e

import (
	"context"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rtspgate/rtspgate/internal/testpeer"
)

// TestOneCameraSessionForSeveralStreams: one camera listed in three
// streams, each with its own #media, is pulled through one camera session.
// GStreamer's shared media answers a second DESCRIBE with 503 while a first
// session plays only part of the media, so a second session would fail.
func TestOneCameraSessionForSeveralStreams(t *testing.T) {
	t.Parallel()
	cam := testpeer.StartCamera(t, testpeer.CameraOptions{Path: "/cam", Audio: "pcma", SessionLog: true})
	yml := "streams:\n" +
		"  cam: " + cam.URL + "#media=video\n" +
		"  cam_audio: " + cam.URL + "#media=audio#timeout=8\n" +
		"  both:\n    - " + cam.URL + "\n"
	gw := startGateway(t, yml, gatewayOpts{grace: 5 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// one after the other, the second within the first's grace time
	for _, c := range []struct{ name, want string }{
		{"cam", "video:h264"}, {"cam_audio", "audio:pcm_alaw"}, {"both", "video:h264,audio:pcm_alaw"},
	} {
		streams, err := testpeer.FFprobe(ctx, gw.URL+c.name, "tcp")
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := codecsOf(streams); got != c.want {
			t.Fatalf("%s: %s, want %s", c.name, got, c.want)
		}
	}
	// and all at once
	var wg sync.WaitGroup
	for _, name := range []string{"cam", "cam_audio", "both"} {
		wg.Go(func() {
			frames, errLines, err := testpeer.DecodeCheck(ctx, gw.URL+name, "tcp", 2)
			if name == "cam_audio" && frames == 0 {
				frames = 10 // audio only: ffmpeg counts video frames
			}
			if err != nil || len(errLines) > 0 || frames < 10 {
				t.Errorf("%s read at the same time as the others: %d frames, %v %s", name, frames, err, strings.Join(errLines, "\n"))
			}
		})
	}
	wg.Wait()
	if n := cam.MaxSessions(); n != 1 {
		t.Fatalf("the camera had %d sessions at once, want 1", n)
	}
}

// TestBusyCameraRetriedWhileReaderWaits: a camera that refuses a second
// session (503) while our idle session to it lingers: that session is
// closed, and the waiting reader is served within its DESCRIBE wait.
func TestBusyCameraRetriedWhileReaderWaits(t *testing.T) {
	t.Parallel()
	cam := testpeer.StartCamera(t, testpeer.CameraOptions{Path: "/cam", Audio: "pcma", SessionLog: true})
	// two upstreams of one camera media: other user info (the camera asks
	// for no login, so any is let in)
	yml := "streams:\n" +
		"  video: " + cam.URL + "#media=video\n" +
		"  other: " + strings.Replace(cam.URL, "rtsp://", "rtsp://viewer:x@", 1) + "\n"
	gw := startGateway(t, yml, gatewayOpts{grace: 20 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := testpeer.FFprobe(ctx, gw.URL+"video", "tcp"); err != nil {
		t.Fatal(err)
	}
	// "video" has no reader now but keeps its session for 20 s
	streams, err := testpeer.FFprobe(ctx, gw.URL+"other", "tcp")
	if err != nil {
		t.Fatalf("reader of the second stream of a busy camera: %v", err)
	}
	if got := codecsOf(streams); got != "video:h264,audio:pcm_alaw" {
		t.Fatalf("other: %s", got)
	}
	logs := gw.logs.String()
	if !strings.Contains(logs, "closing an idle session") {
		t.Errorf("log does not say the idle session was closed:\n%s", logs)
	}
}

// TestSessionLimitRetried: a camera that allows one session answers 453 to a
// second SETUP. Our idle session to it is closed and the waiting reader is
// served; the camera never has two sessions.
func TestSessionLimitRetried(t *testing.T) {
	t.Parallel()
	cam := testpeer.StartFakeCamera(t, testpeer.FakeCameraOptions{MaxSessions: 1, Audio: true})
	yml := "streams:\n" +
		"  main: " + cam.URL + "\n" +
		"  again: " + strings.Replace(cam.URL, "rtsp://", "rtsp://nvr:x@", 1) + "\n"
	gw := startGateway(t, yml, gatewayOpts{grace: 20 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, name := range []string{"main", "again"} {
		if _, err := testpeer.FFprobe(ctx, gw.URL+name, "tcp"); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if n := cam.MaxConcurrent(); n != 1 {
		t.Fatalf("camera had %d sessions at once, want 1", n)
	}
	gw.logs.waitFor(t, "the reader that left", 5*time.Second, func(s string) bool {
		return regexp.MustCompile(`msg="reader left".*stayed=\S+ bytes=[1-9]`).MatchString(s)
	})
}
