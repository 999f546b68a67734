package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/rtspgate/rtspgate/internal/testpeer"
)

// TestTwoSourceStreamWholeFrames: a stream whose video comes from one source
// and audio from another is read by ffmpeg over TCP with no errors, and a
// raw reader on channels 0 and 2 gets only whole interleaved frames, each a
// valid RTP packet of its channel's track with sequence numbers in order.
func TestTwoSourceStreamWholeFrames(t *testing.T) {
	t.Parallel()
	// a publisher's gateway is the camera: two sources of its path, keys
	// differing by query, are two camera sessions, one track each
	cam := startGateway(t, "streams:\n  in:\n", gatewayOpts{})
	in := cam.URL + "in"
	testpeer.Publish(t, testpeer.TestClip(t, 4), in, true)
	cam.logs.waitFor(t, "the publisher starting", 15*time.Second, func(s string) bool { return strings.Contains(s, "publisher started") })
	gw := startGateway(t, "streams:\n  both:\n    - "+in+"?v#media=video\n    - "+in+"?a#media=audio\n", gatewayOpts{})
	url := gw.URL + "both"

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	streams, err := testpeer.FFprobe(ctx, url, "tcp")
	if err != nil || codecsOf(streams) != "video:h264,audio:aac" {
		t.Fatalf("the two-source stream: %s, %v", codecsOf(streams), err)
	}
	frames, errLines, err := testpeer.DecodeCheck(ctx, url, "tcp", 3)
	if err != nil || len(errLines) > 0 || frames < 50 {
		t.Fatalf("ffmpeg over TCP: %d frames, %v %v", frames, err, errLines)
	}

	rc := testpeer.DialRaw(t, url)
	rc.Send("DESCRIBE", url, "Accept: application/sdp\r\n")
	if st, _ := rc.Response(); !strings.Contains(st, "200") {
		t.Fatalf("DESCRIBE: %s", st)
	}
	rc.PlayTCP(url, url+"/trackID=0", url+"/trackID=1")
	rc.Conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	count := map[int]int{}
	last := map[int]rtp.Header{}
	for count[0] < 100 || count[2] < 20 {
		st, _, ch, payload := rc.Next()
		if ch < 0 {
			t.Fatalf("a response where a frame was due: %q", st)
		}
		if ch%2 == 1 {
			continue // RTCP
		}
		if ch != 0 && ch != 2 {
			t.Fatalf("a frame on channel %d", ch)
		}
		var p rtp.Packet
		if err := p.Unmarshal(payload); err != nil || p.Version != 2 {
			t.Fatalf("channel %d: not an RTP packet (%v): % x", ch, err, payload[:min(len(payload), 16)])
		}
		if prev, ok := last[ch]; ok && (p.SSRC != prev.SSRC || p.SequenceNumber != prev.SequenceNumber+1) {
			t.Fatalf("channel %d: SSRC %x seq %d after SSRC %x seq %d", ch, p.SSRC, p.SequenceNumber, prev.SSRC, prev.SequenceNumber)
		}
		last[ch] = p.Header
		count[ch]++
	}
	if last[0].SSRC == last[2].SSRC || last[0].PayloadType == last[2].PayloadType {
		t.Fatalf("channels 0 and 2 carry the same track: %+v %+v", last[0], last[2])
	}
}
