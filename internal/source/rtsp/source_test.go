package rtsp

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/pion/rtp"

	"github.com/rtspgate/rtspgate/internal/stream"
)

type nopPublisher struct{}

func (nopPublisher) SetTracks([]stream.TrackSpec) ([]*stream.Track, error)        { return nil, nil }
func (nopPublisher) Wanted() bool                                                 { return true }
func (nopPublisher) SetSinks([]stream.SinkSpec, string)                           {}
func (nopPublisher) Quirk(string)                                                 {}
func (nopPublisher) WritePacket(*stream.Track, *rtp.Packet, time.Time, time.Time) {}

// TestTimeoutBoundsASilentCamera: a camera that accepts the connection
// and never answers fails after #timeout, not never.
func TestTimeoutBoundsASilentCamera(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close() // hold it open, say nothing
		}
	}()
	src, err := Open(stream.SourceSpec{URL: "rtsp://" + l.Addr().String() + "/cam", Scheme: "rtsp", Options: map[string]string{"timeout": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	err = src.Run(ctx, nopPublisher{})
	took := time.Since(start)
	if err == nil || ctx.Err() != nil {
		t.Fatalf("Run: %v after %v, want a timeout error before the test's deadline", err, took)
	}
	if took < 900*time.Millisecond || took > 4*time.Second {
		t.Fatalf("silent camera failed after %v, want about 1 s (#timeout=1)", took)
	}
}

func TestOpenRejectsBadOptions(t *testing.T) {
	for _, opts := range []map[string]string{
		{"timeout": "0"}, {"media": "data"}, {"transport": "sctp"}, {"bogus": "1"},
	} {
		_, err := Open(stream.SourceSpec{URL: "rtsp://127.0.0.1/x", Scheme: "rtsp", Options: opts})
		if err == nil {
			t.Errorf("options %v accepted", opts)
		}
	}
	if _, err := Open(stream.SourceSpec{URL: "rtspx://127.0.0.1/x", Scheme: "rtspx"}); err != nil {
		t.Errorf("rtspx: %v", err)
	}
}

// TestDefaultPorts: rtsps and rtspx default to port 322, rtsp to 554;
// a URL that spells the default port is the same camera.
func TestDefaultPorts(t *testing.T) {
	for _, c := range []struct{ a, b, scheme string }{
		{"rtsp://cam/live", "rtsp://cam:554/live", "rtsp"},
		{"rtsps://cam/live", "rtsps://cam:322/live", "rtsps"},
	} {
		ua, _ := base.ParseURL(c.a)
		ub, _ := base.ParseURL(c.b)
		if upstreamKey(c.scheme, ua) != upstreamKey(c.scheme, ub) {
			t.Errorf("%s and %s are different upstreams", c.a, c.b)
		}
	}
	st, _, err := parse(stream.SourceSpec{URL: "rtspx://cam/live", Scheme: "rtspx"})
	if err != nil || st.scheme != "rtsps" || !st.insecure || portOf(st) != "322" {
		t.Fatalf("rtspx: %+v %v", st, err)
	}
}
