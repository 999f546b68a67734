package e2e

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/rtspgate/rtspgate/internal/testpeer"
)

// TestIngestSpecCommand publishes with the exact ffmpeg command of the
// feature document and reads it back.
func TestIngestSpecCommand(t *testing.T) {
	t.Parallel()
	clip := testpeer.TestClip(t, 4)
	gw := startGateway(t, "streams:\n  camera1:\n", gatewayOpts{})
	url := gw.URL + "camera1"
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	// A reader of a configured stream that comes before the publisher waits
	// for it (up to 10 s) instead of failing.
	early := make(chan error, 1)
	var earlyStreams []testpeer.ProbeStream
	go func() {
		var err error
		earlyStreams, err = testpeer.FFprobe(ctx, url, "tcp")
		early <- err
	}()
	gw.logs.waitFor(t, "the early reader waiting", 10*time.Second, func(s string) bool { return strings.Contains(s, "connection opened") })
	pub := testpeer.Publish(t, clip, url, true)
	if err := <-early; err != nil {
		t.Fatalf("reader that came before the publisher: %v", err)
	}
	if got := codecsOf(earlyStreams); got != "video:h264,audio:aac" {
		t.Fatalf("early reader saw %s, want video:h264,audio:aac", got)
	}

	frames, errLines, err := testpeer.DecodeCheck(ctx, url, "tcp", 2)
	if err != nil || len(errLines) > 0 || frames < 20 { // 2 s, from a keyframe up to 1 s in
		t.Fatalf("reader after the publisher: %d frames, %v %v", frames, err, errLines)
	}

	// A second publisher is refused and the first goes on.
	second := testpeer.Publish(t, clip, url, true)
	select {
	case <-second.Done():
	case <-time.After(15 * time.Second):
		t.Fatal("second publisher was not refused")
	}
	if !strings.Contains(second.Stderr(), "409") {
		t.Errorf("second publisher's ffmpeg did not see 409:\n%s", second.Stderr())
	}
	select {
	case <-pub.Done():
		t.Fatalf("first publisher was disturbed: %s", pub.Stderr())
	default:
	}
	if frames, _, err := testpeer.DecodeCheck(ctx, url, "tcp", 2); err != nil || frames < 20 {
		t.Fatalf("reader after the refused publisher: %d frames, %v", frames, err)
	}

	// When the publisher leaves for good its readers are closed promptly.
	reader := testpeer.StartReader(t, url)
	gw.logs.waitFor(t, "the reader starting", 10*time.Second, func(s string) bool { return strings.Count(s, "reader started") >= 4 })
	pub.Stop()
	select {
	case <-reader.Done():
	case <-time.After(15 * time.Second):
		t.Fatal("reader was left waiting after its publisher left")
	}
}

// TestIngestUnconfiguredName: a name that is not in the config exists while
// it is published, and is gone (404) after.
func TestIngestUnconfiguredName(t *testing.T) {
	t.Parallel()
	clip := testpeer.TestClip(t, 4)
	gw := startGateway(t, "streams:\n", gatewayOpts{})
	url := gw.URL + "pushed"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pub := testpeer.Publish(t, clip, url, true)
	gw.logs.waitFor(t, "the publisher starting", 15*time.Second, func(s string) bool { return strings.Contains(s, "publisher started") })
	streams, err := testpeer.FFprobe(ctx, url, "tcp")
	if err != nil {
		t.Fatal(err)
	}
	if got := codecsOf(streams); got != "video:h264,audio:aac" {
		t.Fatalf("got %s, want video:h264,audio:aac", got)
	}
	pub.Stop()
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err := testpeer.FFprobe(ctx, url, "tcp")
		if err != nil && strings.Contains(err.Error(), "404") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream still served after its publisher left: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestIngestOverUDP: a publisher may send its RTP over UDP too.
func TestIngestOverUDP(t *testing.T) {
	t.Parallel()
	clip := testpeer.TestClip(t, 4)
	gw := startGateway(t, "streams:\n  cam:\n", gatewayOpts{udp: true})
	url := gw.URL + "cam"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pub := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "error", "-re", "-stream_loop", "-1", "-i", clip,
		"-c", "copy", "-rtsp_transport", "udp", "-f", "rtsp", url)
	if err := pub.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Process.Kill(); pub.Wait() })
	gw.logs.waitFor(t, "the UDP publisher starting", 15*time.Second, func(s string) bool { return strings.Contains(s, "publisher started") })
	frames, errLines, err := testpeer.DecodeCheck(ctx, url, "tcp", 2)
	if err != nil || len(errLines) > 0 || frames < 20 {
		t.Fatalf("reader of a UDP publisher: %d frames, %v %v", frames, err, errLines)
	}
}
