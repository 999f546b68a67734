package e2e

import (
	"context"
	"math"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"

	"github.com/rtspgate/rtspgate/internal/testpeer"
)

// firstVideo is what a reader saw of its first video.
type firstVideo struct {
	ts    uint32 // RTP timestamp of the first packet
	nals  []byte // NAL unit types of its first access unit, in order
	idrTS uint32 // RTP timestamp of the first access unit with an IDR slice
}

// playFirstVideo plays url with gortsplib over TCP and returns the first
// video access unit it got, and when the IDR came after PLAY.
func playFirstVideo(t *testing.T, url string) (firstVideo, time.Duration) {
	t.Helper()
	u, err := base.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	tcp := gortsplib.ProtocolTCP
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &tcp}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	desc, _, err := c.Describe(u)
	if err != nil {
		t.Fatal(err)
	}
	var h264 *format.H264
	medi := desc.FindFormat(&h264)
	if medi == nil {
		t.Fatal("no H.264 track")
	}
	if _, err := c.Setup(desc.BaseURL, medi, 0, 0); err != nil {
		t.Fatal(err)
	}
	dec, err := h264.CreateDecoder()
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu       sync.Mutex
		fv       firstVideo
		aus      int
		started  bool // a packet came
		finished bool
		done     = make(chan struct{})
	)
	finish := func() { finished = true; close(done) }
	c.OnPacketRTP(medi, h264, func(pkt *rtp.Packet) {
		mu.Lock()
		defer mu.Unlock()
		if finished {
			return
		}
		if !started {
			fv.ts, started = pkt.Timestamp, true
		}
		au, err := dec.Decode(pkt)
		if err != nil {
			return // more packets needed
		}
		aus++
		for _, nalu := range au {
			if aus == 1 {
				fv.nals = append(fv.nals, nalu[0]&0x1f)
			}
			if nalu[0]&0x1f == 5 {
				fv.idrTS = pkt.Timestamp
				finish()
				return
			}
		}
		if aus > 200 {
			finish()
		}
	})
	start := time.Now()
	if _, err := c.Play(nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("no keyframe within 10 s")
	}
	mu.Lock()
	defer mu.Unlock()
	return fv, time.Since(start)
}

// TestGOPCacheMidGOPJoin: a reader that joins a 4 s-GOP stream 1.5 s after a
// keyframe starts at that keyframe, with its parameter sets, at once; ffmpeg
// (also with -fflags nobuffer) and GStreamer decode it with no errors; audio
// starts with the video; ?gop=0 waits for the next keyframe instead.
func TestGOPCacheMidGOPJoin(t *testing.T) {
	t.Parallel()
	clip := testpeer.TestClipGOP(t, 8, 100) // 25 fps: a keyframe every 4 s
	gw := startGateway(t, "streams:\n  cam:\n", gatewayOpts{})
	url := gw.URL + "cam"
	testpeer.Publish(t, clip, url, true)
	gw.logs.waitFor(t, "the publisher starting", 15*time.Second, func(s string) bool { return strings.Contains(s, "publisher started") })

	// a reader that is there for the keyframe: after it, the GOP is running
	first, _ := playFirstVideo(t, url+"?gop=0")
	keyAt := time.Now()
	time.Sleep(1500 * time.Millisecond) // into the middle of the GOP

	joined, wait := playFirstVideo(t, url)
	if joined.idrTS != first.idrTS {
		t.Fatalf("a reader joining mid-GOP started at the keyframe of RTP time %d, want the cached one of %d (%v after it)", joined.idrTS, first.idrTS, time.Since(keyAt))
	}
	if len(joined.nals) < 3 || joined.nals[0] != 7 || joined.ts != joined.idrTS {
		t.Fatalf("the first access unit of the joining reader has NAL types %v, want SPS, PPS, IDR", joined.nals)
	}
	t.Logf("joined %v after the keyframe, first keyframe %v after PLAY", time.Since(keyAt).Round(time.Millisecond), wait.Round(time.Millisecond))

	// with the cache off the reader waits for the next keyframe
	if time.Since(keyAt) < 3*time.Second {
		live, _ := playFirstVideo(t, url+"?gop=0")
		if live.idrTS == first.idrTS {
			t.Fatal("?gop=0 got the cached keyframe")
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, extra := range [][]string{nil, {"-fflags", "nobuffer"}} {
		args := append([]string{"-nostdin", "-hide_banner", "-nostats", "-v", "error"}, extra...)
		args = append(args, "-rtsp_transport", "tcp", "-i", url, "-t", "2", "-f", "null", "-")
		out, err := exec.CommandContext(ctx, "ffmpeg", args...).CombinedOutput()
		if msg := strings.TrimSpace(string(out)); err != nil || msg != "" {
			t.Fatalf("ffmpeg %v joining mid-GOP: %v\n%s", extra, err, msg)
		}
	}
	if err := testpeer.GstDecode(ctx, url, "tcp", 30); err != nil {
		t.Fatalf("GStreamer joining mid-GOP: %v", err)
	}

	// audio and video start together: the first packets of each in ffmpeg's
	// clock are within a few frames
	pkts, err := testpeer.ProbePackets(ctx, url, "tcp", 2)
	if err != nil {
		t.Fatal(err)
	}
	firstPTS := map[string]float64{}
	for _, p := range pkts {
		if _, ok := firstPTS[p.CodecType]; !ok && p.PTSTime != "" {
			firstPTS[p.CodecType] = p.PTS
		}
	}
	v, okv := firstPTS["video"]
	a, oka := firstPTS["audio"]
	if !okv || !oka || math.Abs(v-a) > 0.2 {
		t.Fatalf("first video at %v s, first audio at %v s: want both, within 0.2 s", v, a)
	}
}

// TestGOPCacheOffInConfig: with rtsp.gop_cache: false a reader joining
// mid-GOP waits for the next keyframe, and ?gop=1 asks for the cache back.
func TestGOPCacheOffInConfig(t *testing.T) {
	t.Parallel()
	clip := testpeer.TestClipGOP(t, 8, 100)
	gw := startGateway(t, "rtsp:\n  gop_cache: false\nstreams:\n  cam:\n", gatewayOpts{})
	url := gw.URL + "cam"
	testpeer.Publish(t, clip, url, true)
	gw.logs.waitFor(t, "the publisher starting", 15*time.Second, func(s string) bool { return strings.Contains(s, "publisher started") })
	first, _ := playFirstVideo(t, url)
	time.Sleep(1500 * time.Millisecond) // into the middle of the GOP
	live, wait := playFirstVideo(t, url)
	if live.idrTS == first.idrTS {
		t.Fatal("with rtsp.gop_cache: false a reader joining mid-GOP got the cached keyframe")
	}
	t.Logf("without the cache the joining reader waited %v for the next keyframe", wait.Round(time.Millisecond))
	// right after that keyframe, ?gop=1 gets it from the cache
	cached, _ := playFirstVideo(t, url+"?gop=1")
	if cached.idrTS != live.idrTS {
		t.Fatalf("?gop=1 with the cache off in the config started at RTP time %d, want the cached keyframe's %d", cached.idrTS, live.idrTS)
	}
}
