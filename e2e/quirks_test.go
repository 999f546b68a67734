package e2e

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/rtspgate/rtspgate/internal/testpeer"
)

// TestMarkerlessCameraEveryReaderDecodes: a camera that never sets the
// RTP marker bit. Readers that join at different moments each start at a
// keyframe with its parameter sets and decode without errors.
func TestMarkerlessCameraEveryReaderDecodes(t *testing.T) {
	t.Parallel()
	cam := testpeer.StartFakeCamera(t, testpeer.FakeCameraOptions{NoMarker: true, Audio: true})
	gw := startGateway(t, "streams:\n  cam: "+cam.URL+"\n", gatewayOpts{grace: 5 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() {
			time.Sleep(time.Duration(i) * 370 * time.Millisecond) // join mid-GOP
			frames, errLines, err := testpeer.DecodeCheck(ctx, gw.URL+"cam", "tcp", 3)
			if err != nil || len(errLines) > 0 || frames < 25 {
				t.Errorf("reader %d: %d frames, %v %s", i, frames, err, strings.Join(errLines, "\n"))
			}
		})
	}
	wg.Wait()
	if err := testpeer.GstDecode(ctx, gw.URL+"cam", "tcp", 30); err != nil {
		t.Errorf("GStreamer rtspsrc: %v", err)
	}
}

// TestPaddingCameraParameterSets: a camera that pads every RTP packet and
// sends its parameter sets only in the SDP. rtspgate puts them in front of
// each keyframe, in packets of its own: those carry no padding and no
// stale bytes (each STAP-A's units fill it exactly), the camera's own
// packets keep their padding, and ffmpeg and GStreamer's rtspsrc decode
// with no errors.
func TestPaddingCameraParameterSets(t *testing.T) {
	t.Parallel()
	cam := testpeer.StartFakeCamera(t, testpeer.FakeCameraOptions{NoInBandParams: true, Padding: 4})
	gw := startGateway(t, "streams:\n  cam: "+cam.URL+"\n", gatewayOpts{grace: 5 * time.Second})
	url := gw.URL + "cam"

	rc := testpeer.DialRaw(t, url)
	rc.PlayTCP(url, url+"/trackID=0")
	var padded, params int
	for params < 2 || padded < 50 {
		_, _, ch, b := rc.Next()
		if ch != 0 {
			continue
		}
		var p rtp.Packet
		if err := p.Unmarshal(b); err != nil {
			t.Fatalf("packet: %v", err)
		}
		typ := p.Payload[0] & 0x1f
		if typ == 24 || typ == 7 || typ == 8 { // the camera sends none
			params++
			if p.Padding {
				t.Fatalf("parameter sets of rtspgate's own with padding (% x)", b)
			}
		} else if !p.Padding {
			t.Fatalf("a camera packet (NAL type %d) without its padding", typ)
		}
		switch {
		case p.Padding:
			padded++
		case typ == 24: // STAP-A: 16-bit sizes, each unit whole
			rest := p.Payload[1:]
			for len(rest) >= 2 {
				n := int(rest[0])<<8 | int(rest[1])
				if n == 0 || n > len(rest)-2 {
					t.Fatalf("STAP-A with a unit of %d bytes in %d left: stale bytes after its units (% x)", n, len(rest)-2, p.Payload)
				}
				rest = rest[2+n:]
			}
			if len(rest) != 0 {
				t.Fatalf("STAP-A with %d bytes after its units (% x)", len(rest), p.Payload)
			}
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	frames, errLines, err := testpeer.DecodeCheck(ctx, url, "tcp", 3)
	if err != nil || len(errLines) > 0 || frames < 50 {
		t.Errorf("ffmpeg: %d frames, %v %s", frames, err, strings.Join(errLines, "\n"))
	}
	if err := testpeer.GstDecode(ctx, url, "tcp", 50); err != nil {
		t.Errorf("GStreamer rtspsrc: %v", err)
	}
}

// TestCameraNewParametersAfterReconnect: the camera comes back with
// the same codec at another resolution and sends its parameter sets only in
// the SDP. A reader that stayed gets the new ones in band and decodes the
// new size; a new reader gets the new SDP.
func TestCameraNewParametersAfterReconnect(t *testing.T) {
	t.Parallel()
	cam := testpeer.StartFakeCamera(t, testpeer.FakeCameraOptions{
		NoInBandParams: true,
		Resolution: func(n int) string {
			if n == 0 {
				return "320x240"
			}
			return "640x360"
		},
	})
	gw := startGateway(t, "streams:\n  cam: "+cam.URL+"\n", gatewayOpts{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	type result struct {
		frames []testpeer.ProbeFrame
		err    error
	}
	done := make(chan result, 1)
	go func() {
		f, err := testpeer.ProbeFrames(ctx, gw.URL+"cam", "tcp", 7)
		done <- result{f, err}
	}()
	gw.logs.waitFor(t, "the reader", 10*time.Second, func(s string) bool { return strings.Contains(s, "reader started") })
	time.Sleep(2 * time.Second)
	cam.DropConnections()
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	sizes := map[string]int{}
	for _, f := range r.frames {
		if f.MediaType == "video" {
			sizes[fmt.Sprintf("%dx%d", f.Width, f.Height)]++
		}
	}
	if sizes["320x240"] == 0 || sizes["640x360"] < 10 {
		t.Fatalf("frames by size %v: the reader that stayed must decode both sizes", sizes)
	}
	streams, err := testpeer.FFprobe(ctx, gw.URL+"cam", "tcp")
	if err != nil {
		t.Fatal(err)
	}
	if streams[0].Width != 640 || streams[0].Height != 360 {
		t.Fatalf("new reader: %dx%d, want the new SDP's 640x360", streams[0].Width, streams[0].Height)
	}
}

// TestTapoWithoutLogin: a TP-Link Tapo answers 401 with its realm to a
// source with no credentials; asked again with 127.0.0.1 as the URL's host,
// it plays.
func TestTapoWithoutLogin(t *testing.T) {
	t.Parallel()
	cam := testpeer.StartFakeCamera(t, testpeer.FakeCameraOptions{Host: "127.0.0.2", Tapo: true})
	gw := startGateway(t, "streams:\n  tapo: "+cam.URL+"\n", gatewayOpts{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	streams, err := testpeer.FFprobe(ctx, gw.URL+"tapo", "tcp")
	if err != nil {
		t.Fatal(err)
	}
	if got := codecsOf(streams); got != "video:h264" {
		t.Fatalf("tapo: %s", got)
	}
	sawLocal := false
	for _, r := range cam.Requests() {
		sawLocal = sawLocal || strings.HasPrefix(r, "DESCRIBE rtsp://127.0.0.1:")
	}
	if !sawLocal {
		t.Fatalf("no DESCRIBE for 127.0.0.1 among %v", cam.Requests())
	}
	if !strings.Contains(gw.logs.String(), "Tapo") {
		t.Error("the quirk is not logged")
	}
}

// TestStalledCameraKeepsTimestamps: a camera stops sending for 2 s,
// then sends what it owes, late, with its RTP timestamps and sender reports
// still on the media clock. A reader through rtspgate sees no jump: its
// presentation times stay continuous to within one frame.
func TestStalledCameraKeepsTimestamps(t *testing.T) {
	t.Parallel()
	cam := testpeer.StartFakeCamera(t, testpeer.FakeCameraOptions{
		Audio: true, SenderReports: true, StallAfter: 1500 * time.Millisecond, StallFor: 2 * time.Second, StallLate: true,
	})
	gw := startGateway(t, "streams:\n  cam: "+cam.URL+"\n", gatewayOpts{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// sender reports go to a reader every 5 s: read past the second one
	pkts, err := testpeer.ProbePackets(ctx, gw.URL+"cam", "tcp", 8)
	if err != nil {
		t.Fatal(err)
	}
	checkContinuous(t, pkts, "video", 0.040)
	checkContinuous(t, pkts, "audio", 0.020)
	// audio and video stay together: the last packets of each end at about
	// the same presentation time
	last := map[string]float64{}
	for _, p := range pkts {
		last[p.CodecType] = max(last[p.CodecType], p.PTS)
	}
	if d := math.Abs(last["video"] - last["audio"]); d > 0.2 {
		t.Errorf("video ends at %.3f s, audio at %.3f s", last["video"], last["audio"])
	}
}

// checkContinuous fails when the presentation times of kind step by more
// than one frame beyond their nominal step.
func checkContinuous(t *testing.T, pkts []testpeer.ProbePacket, kind string, step float64) {
	t.Helper()
	var pts []float64
	for _, p := range pkts {
		if p.CodecType == kind && p.PTSTime != "" {
			pts = append(pts, p.PTS)
		}
	}
	if len(pts) < 50 {
		t.Fatalf("%s: %d packets", kind, len(pts))
	}
	worst := 0.0
	for i := 1; i < len(pts); i++ {
		worst = max(worst, math.Abs(pts[i]-pts[i-1]-step))
	}
	if worst > 0.040 {
		t.Fatalf("%s: presentation times jump by up to %.3f s beyond the %.3f s step (from %.3f to %.3f s)", kind, worst, step, pts[0], pts[len(pts)-1])
	}
}

// TestCameraAnswersRepaired: answers that ffmpeg's RTSP client takes
// but gortsplib's parser refuses play through rtspgate, and each repair is
// logged once per camera session.
func TestCameraAnswersRepaired(t *testing.T) {
	t.Parallel()
	badOrigin := regexp.MustCompile(`(?m)^o=.*$`)
	for _, c := range []struct {
		name      string
		opt       testpeer.FakeCameraOptions
		options   string // the source's # options
		quirks    []string
		ffmpegToo bool // ffmpeg plays the camera directly, too
	}{
		{"tcp-no-interleaved", testpeer.FakeCameraOptions{NoInterleavedInReply: true}, "", []string{"SETUP answer without interleaved="}, true},
		{"udp-port-junk", testpeer.FakeCameraOptions{UDPTransportJunk: true}, "#transport=udp", []string{"SETUP answer with junk in client_port/server_port"}, false},
		{"sdp-fields", testpeer.FakeCameraOptions{SDP: func(def string) string {
			s := badOrigin.ReplaceAllString(def, "o=camera 1")
			return strings.Replace(s, "m=video", "b=AS:fast\r\nm=video", 1)
		}}, "", []string{"SDP with malformed o= line", "SDP with malformed b= line"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cam := testpeer.StartFakeCamera(t, c.opt)
			gw := startGateway(t, "streams:\n  cam: "+cam.URL+c.options+"\n", gatewayOpts{})
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if c.ffmpegToo {
				if _, err := testpeer.FFprobe(ctx, cam.URL, "tcp"); err != nil {
					t.Fatalf("ffprobe of the camera itself: %v", err)
				}
			}
			frames, errLines, err := testpeer.DecodeCheck(ctx, gw.URL+"cam", "tcp", 2)
			if err != nil || len(errLines) > 0 || frames < 25 {
				t.Fatalf("through rtspgate: %d frames, %v %s", frames, err, strings.Join(errLines, "\n"))
			}
			logs := gw.logs.String()
			for _, q := range c.quirks {
				if n := strings.Count(logs, `quirk="`+q+`"`); n != 1 {
					t.Errorf("quirk %q logged %d times, want once", q, n)
				}
			}
		})
	}
}
