package loadtest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/base"
)

func startCamera(t *testing.T, paths int, in *Input) *Camera {
	t.Helper()
	c := &Camera{Paths: paths, Input: in, Audio: true, Logger: quietLogger()}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// playing is a reader started on a camera path, with the number of frames
// the path had sent when PLAY succeeded.
type playing struct {
	res        *readerResult
	sentBefore int // frames the camera had sent when the client started
	sentAtPlay int // and when the client saw PLAY answered
	cancel     context.CancelFunc
	done       chan struct{}
}

func playCamera(t *testing.T, c *Camera, path int) *playing {
	t.Helper()
	u, err := base.ParseURL(c.URL(path))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &playing{cancel: cancel, done: make(chan struct{})}
	ready := make(chan error, 1)
	p.sentBefore = len(c.sent(path))
	go func() {
		defer close(p.done)
		p.res = runReader(ctx, &readerConfig{url: u, win: &window{}, keepalive: time.Minute, handshakeTimeout: 5 * time.Second},
			func(err error) {
				p.sentAtPlay = len(c.sent(path))
				ready <- err
			})
	}()
	if err := <-ready; err != nil {
		cancel()
		t.Fatal(err)
	}
	return p
}

func (p *playing) stop() *readerResult {
	p.cancel()
	<-p.done
	return p.res
}

// TestCameraServesTwoClientsLive plays one path with two clients, the second
// later: each starts at the live position (not at the first frame) and gets
// every frame from there; the camera counts the sessions; another path is
// untouched.
func TestCameraServesTwoClientsLive(t *testing.T) {
	c := startCamera(t, 2, syntheticInput(60, 30))
	a := playCamera(t, c, 0)
	// The second client joins at least 10 frames later.
	deadline := time.Now().Add(5 * time.Second)
	for len(c.sent(0)) < a.sentAtPlay+10 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	b := playCamera(t, c, 0)
	if now, total := c.Playing(0); now != 2 || total != 2 {
		t.Fatalf("path 0: %d playing, %d in all; want 2 and 2", now, total)
	}
	for len(c.sent(0)) < b.sentAtPlay+15 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	ra, rb := a.stop(), b.stop()

	for name, p := range map[string]*playing{"first": a, "second": b} {
		r := p.res
		if r.first < 0 {
			t.Fatalf("%s client got no frame", name)
		}
		// Live: the first frame is one sent after the client started, up to
		// the one being sent when it saw PLAY answered (read late on a
		// loaded machine) or the next.
		if r.first < int64(p.sentBefore)-2 || r.first > int64(p.sentAtPlay)+2 {
			t.Errorf("%s client started at frame %d; it started at frame %d and saw PLAY answered at %d", name, r.first, p.sentBefore, p.sentAtPlay)
		}
		last := r.first
		for r.frames.has(uint64(last + 1)) {
			last++
		}
		if got := r.frames.countRange(uint64(r.first), uint64(last)+100); got != int(last-r.first+1) || got < 10 {
			t.Errorf("%s client: %d frames from %d to %d, not contiguous", name, got, r.first, last)
		}
		if r.gaps != 0 || r.malformed != 0 {
			t.Errorf("%s client: %d gaps, %d malformed", name, r.gaps, r.malformed)
		}
	}
	if rb.first < ra.first+10 {
		t.Errorf("second client started at %d, first at %d: not live", rb.first, ra.first)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.WaitPlaying(ctx, 0, func(n int) bool { return n == 0 }); err != nil {
		t.Fatal(err)
	}
	if now, total := c.Playing(1); now != 0 || total != 0 || len(c.sent(1)) == 0 {
		t.Fatalf("path 1: %d playing, %d in all, %d frames sent", now, total, len(c.sent(1)))
	}
}

// cameraTarget makes the fake camera its own target: readers play it
// directly, and the process sampled is this one.
type cameraTarget struct{ c *Camera }

func (t cameraTarget) URL(stream string) string { return "rtsp://" + t.c.Addr() + "/" + stream }
func (t cameraTarget) PID() int                 { return os.Getpid() }

// TestCamerasDirect runs the many-cameras measurement with the camera as the
// target: every reader gets every frame of its own camera.
func TestCamerasDirect(t *testing.T) {
	c := startCamera(t, 3, syntheticInput(60, 30))
	res, err := Cameras(context.Background(), CamerasConfig{
		Camera: c, Target: cameraTarget{c}, TargetName: "camera", ReadersPerCamera: 2,
		Duration: time.Second, Warmup: 200 * time.Millisecond, Grace: time.Second, // the last frames may be late on a loaded machine
		Logger: quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", res.Text())
	switch {
	case res.Readers != 6 || res.ReadersConnected != 6 || res.ReadersDropped != 0:
		t.Errorf("readers %d connected %d dropped %d (%s)", res.Readers, res.ReadersConnected, res.ReadersDropped, res.FirstError)
	case !res.EveryFrame || res.DeliveredMinPct != 100:
		t.Errorf("delivered min %.2f %%", res.DeliveredMinPct)
	case res.FramesSent < 3*25:
		t.Errorf("%d frames sent by 3 cameras in 1 s", res.FramesSent)
	case res.LatencySamples < uint64(2*res.FramesSent) || res.LatencyP50Ms <= 0:
		t.Errorf("latency: %d samples, p50 %.3f ms", res.LatencySamples, res.LatencyP50Ms)
	case res.CameraSessions != 6:
		t.Errorf("camera sessions %d, want 6 (each reader is one here)", res.CameraSessions)
	case res.ServerCPU <= 0 || res.ServerRSSMiB <= 0:
		t.Errorf("process metrics: cpu %.3f rss %.1f", res.ServerCPU, res.ServerRSSMiB)
	}
}

// TestFirstFrameDirect runs warm and cold trials with the camera as the
// target (its own sessions tell when it is cold): with a 10-frame GOP every
// trial gets a keyframe within about a GOP, sent after its PLAY.
func TestFirstFrameDirect(t *testing.T) {
	c := startCamera(t, 1, syntheticInput(30, 10))
	res, err := FirstFrame(context.Background(), FirstFrameConfig{
		Camera: c, Target: cameraTarget{c}, TargetName: "camera", Trials: 3, Query: "gop=0",
		Warm: true, Cold: true, TrialTimeout: 5 * time.Second, ColdWait: 5 * time.Second,
		Logger: quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", res.Text())
	if len(res.Rows) != 4 {
		t.Fatalf("%d rows, want 4", len(res.Rows))
	}
	gop := 10 * time.Second / 30
	for _, r := range res.Rows {
		if r.OK != 3 || r.Errors != 0 {
			t.Errorf("%s %s: %d ok of %d (%s)", r.Mode, r.URL, r.OK, r.Trials, r.FirstError)
		}
		// A GOP and a frame at most, with room for a loaded machine.
		if r.PlayMaxMs <= 0 || r.PlayMaxMs > durationMs(3*gop+time.Second) {
			t.Errorf("%s %s: PLAY to keyframe max %.1f ms, GOP %v", r.Mode, r.URL, r.PlayMaxMs, gop)
		}
		if r.KeyframeAgeMaxMs > 50 {
			t.Errorf("%s %s: a keyframe sent %.1f ms before PLAY", r.Mode, r.URL, r.KeyframeAgeMaxMs)
		}
	}
}
