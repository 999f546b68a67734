package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/rtspgate/rtspgate/internal/stream"
	"github.com/rtspgate/rtspgate/internal/testpeer"
)

// maxUDPPacket is the largest RTP packet sent whole to a UDP reader with
// rtsp.pkt_size unset (a 1500-byte MTU less IP and UDP headers).
const maxUDPPacket = 1472

var rtcpIn = regexp.MustCompile(`msg="reader left".*rtcp_in=(\d+)`)

// TestUDPReadersOfBigPackets: a publisher over TCP sends 3000-byte RTP
// packets (legal there). ffmpeg and GStreamer's rtspsrc read it over UDP at
// once for 13 s: both decode without an error and stay to the end, and
// their RTCP receiver reports reach the server. A raw UDP reader then sees
// datagrams of at most 1472 bytes, nearly all cut to rtsp.pkt_size, with
// the SSRC its SETUP answer announced. The 3000-byte packets are cut into runs of equal pieces, which
// went to the readers segmented: loopback never refused that.
//
// Staying: gortsplib ends a UDP reader's session after IdleTimeout (60 s,
// its default, which rtspgate keeps) without an RTSP request or an RTCP
// packet from the reader (the Session header tells clients 55 s). ffmpeg
// sends a keepalive every 27 s and a receiver report per 280 KB received,
// GStreamer a report every few seconds; the reports must reach gortsplib on
// the RTCP socket our writers share, which is what is counted here.
func TestUDPReadersOfBigPackets(t *testing.T) {
	t.Parallel()
	gw := startGateway(t, "streams:\n  x:\n", gatewayOpts{udp: true})
	url := gw.URL + "x"
	testpeer.PublishWith(t, url, "-re", "-f", "lavfi", "-i", "testsrc2=size=640x480:rate=25",
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25", "-bf", "0",
		"-b:v", "2M", "-pkt_size", "3000")
	gw.logs.waitFor(t, "the publisher starting", 15*time.Second, func(s string) bool { return strings.Contains(s, "publisher started") })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	const seconds = 13
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		frames, errLines, err := testpeer.DecodeCheck(ctx, url, "udp", seconds)
		if err != nil {
			t.Errorf("ffmpeg over UDP: %v", err)
		}
		if len(errLines) > 0 {
			t.Errorf("ffmpeg over UDP: decode errors:\n%s", strings.Join(errLines, "\n"))
		}
		if want := (seconds - 1) * 25; frames < want { // from a keyframe up to 1 s in
			t.Errorf("ffmpeg over UDP decoded %d frames in %d s, want >= %d", frames, seconds, want)
		}
	}()
	go func() {
		defer wg.Done()
		if err := testpeer.GstDecode(ctx, url, "udp", seconds*25); err != nil {
			t.Errorf("GStreamer rtspsrc over UDP: %v", err)
		}
	}()
	wg.Wait()
	gw.logs.waitFor(t, "both readers leaving", 10*time.Second, func(s string) bool { return len(rtcpInOf(s)) == 2 })
	t.Logf("RTCP packets from the readers: %v; publisher: %+v", rtcpInOf(gw.logs.String()), gw.app.Registry.Get("x").Stats())
	for i, n := range rtcpInOf(gw.logs.String()) {
		if n == 0 {
			t.Errorf("UDP reader %d: no RTCP packet from it reached the server", i)
		}
	}
	if strings.Contains(gw.logs.String(), "timed out") {
		t.Error("a session timed out")
	}

	rc := testpeer.DialRaw(t, url)
	tr := rc.PlayUDP(url, url+"/trackID=0")[0]
	got := testpeer.ReadRTP(t, tr.RTP, func(ps []*rtp.Packet) bool { return len(ps) >= 100 })
	whole := 0
	for _, p := range got {
		if !tr.HasSSRC || p.SSRC != tr.SSRC {
			t.Fatalf("datagram SSRC %08x, the SETUP answer announced %08x (%v)", p.SSRC, tr.SSRC, tr.HasSSRC)
		}
		if n := p.MarshalSize(); n > maxUDPPacket {
			t.Fatalf("datagram of %d bytes, over what one datagram carries (%d)", n, maxUDPPacket)
		} else if n > stream.DefaultPktSize {
			whole++
		}
	}
	// packets a datagram carries pass whole (a NAL unit or the last FU-A
	// piece of the publisher's that came out at 1401-1472 bytes); the
	// publisher's 3000-byte ones were cut to the packet size
	t.Logf("%d of %d datagrams passed whole at 1401-%d bytes", whole, len(got), maxUDPPacket)
	if whole > len(got)/10 {
		t.Errorf("%d of %d datagrams over %d bytes: the publisher's big packets were not cut to the packet size", whole, len(got), stream.DefaultPktSize)
	}

	// the publisher's packets were that big: their mean size is over what
	// one datagram can carry
	st := gw.app.Registry.Get("x").Stats()
	if mean := st.BytesIn / max(st.PacketsIn, 1); mean <= maxUDPPacket {
		t.Errorf("publisher's packets: %d bytes on average, want them over %d", mean, maxUDPPacket)
	}
	for _, reason := range []string{stream.DropTooBigUDP, stream.DropUDPWrite, stream.DropReaderSlow} {
		if n := st.Drops[reason]; n != 0 {
			t.Errorf("%d drops %q", n, reason)
		}
	}
	for _, line := range []string{"refused UDP segmentation offload", "no UDP segmentation offload"} {
		if strings.Contains(gw.logs.String(), line) {
			t.Errorf("the log says %q: the readers got plain datagrams", line)
		}
	}
}

// rtcpInOf returns rtcp_in of every UDP reader that left.
func rtcpInOf(logs string) []int {
	var out []int
	for _, m := range rtcpIn.FindAllStringSubmatch(logs, -1) {
		n, _ := strconv.Atoi(m[1])
		out = append(out, n)
	}
	return out
}

// TestTwoGatewaysWithUDP: two rtspgate binaries side by side, each with its
// UDP ports from its config (one gives both keys, one only rtp_address and
// a port without a host), each serve an ffmpeg UDP reader. A third on the
// first one's ports still starts, warns with the keys to change, and serves
// TCP.
func TestTwoGatewaysWithUDP(t *testing.T) {
	t.Parallel()
	cam := testpeer.StartCamera(t, testpeer.CameraOptions{Path: "/cam", Audio: "none"})
	base := "streams:\n  cam: " + cam.URL + "\napi:\n  listen: \"\"\n"
	// withUDP starts a gateway on a free pair, and again on another when a
	// parallel test took that pair before the gateway bound it
	withUDP := func(conf func(p int) string) (gb *gatewayBinary, port int) {
		testpeer.OnFreeUDPPair(t, func(p int) (taken bool) {
			gb = startGatewayBinary(t, base+conf(p))
			if gb.has("RTSP over UDP is off") {
				gb.stop(t)
				return true
			}
			port = p
			return false
		})
		return gb, port
	}
	first, p1 := withUDP(func(p int) string {
		return fmt.Sprintf("rtsp:\n  rtp_address: 127.0.0.1:%d\n  rtcp_address: 127.0.0.1:%d\n", p, p+1)
	})
	second, _ := withUDP(func(p int) string { return fmt.Sprintf("rtsp:\n  rtp_address: \":%d\"\n", p) })
	gws := []*gatewayBinary{first, second,
		startGatewayBinary(t, base+fmt.Sprintf("rtsp:\n  rtp_address: 127.0.0.1:%d\n", p1)), // taken by the first
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i, gb := range gws[:2] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			frames, errLines, err := testpeer.DecodeCheck(ctx, gb.url+"cam", "udp", 3)
			if err != nil || len(errLines) > 0 || frames < 40 {
				t.Errorf("gateway %d over UDP: %d frames, %v %v", i+1, frames, err, errLines)
			}
		}()
		// The second reader starts once the first plays: the camera's
		// shared media can abort (gst_rtsp_media_get_rates assertion) when
		// two sessions start on it at the same moment.
		gb.waitLine(t, "reader started")
	}
	wg.Wait()
	third := gws[2]
	warn := third.waitLine(t, "RTSP over UDP is off")
	for _, want := range []string{"rtsp.rtp_address", "rtsp.rtcp_address", fmt.Sprintf("rtp_address=127.0.0.1:%d", p1)} {
		if !strings.Contains(warn, want) {
			t.Errorf("the warning does not name %q:\n%s", want, warn)
		}
	}
	if frames, _, err := testpeer.DecodeCheck(ctx, third.url+"cam", "tcp", 1); err != nil || frames == 0 {
		t.Errorf("the gateway without UDP over TCP: %d frames, %v", frames, err)
	}
}

// gatewayBinary is the real rtspgate run with a config file, listening on a
// free port on 127.0.0.1.
type gatewayBinary struct {
	url   string // rtsp://127.0.0.1:PORT/
	bin   *binary
	mu    sync.Mutex
	lines []string
	added chan struct{}
}

// startGatewayBinary starts the binary with yml plus rtsp.listen on a free
// port of 127.0.0.1, and waits until its RTSP server listens.
func startGatewayBinary(t *testing.T, yml string) *gatewayBinary {
	t.Helper()
	// rtsp: may already be in yml: put listen under it; port 0 is free
	// for sure, and the binary logs the one it got
	listen := "  listen: 127.0.0.1:0\n"
	if strings.Contains(yml, "rtsp:\n") {
		yml = strings.Replace(yml, "rtsp:\n", "rtsp:\n"+listen, 1)
	} else {
		yml += "rtsp:\n" + listen
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rtspgate.yaml"), []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	gb := &gatewayBinary{added: make(chan struct{}, 1)}
	b := startBinary(t, dir, nil, func(line string) {
		gb.mu.Lock()
		gb.lines = append(gb.lines, line)
		gb.mu.Unlock()
		select {
		case gb.added <- struct{}{}:
		default:
		}
	}, "-c", "rtspgate.yaml")
	gb.bin = b
	t.Cleanup(func() {
		b.stop(t)
		if t.Failed() {
			t.Logf("rtspgate %s log:\n%s", gb.url, strings.Join(gb.all(), "\n"))
		}
	})
	gb.url = listenURL(t, gb.waitLine(t, "RTSP server listening"))
	return gb
}

// stop ends the binary (a clean exit within 10 s).
func (gb *gatewayBinary) stop(t *testing.T) { gb.bin.stop(t) }

// has reports whether a line logged so far holds s.
func (gb *gatewayBinary) has(s string) bool {
	return slices.ContainsFunc(gb.all(), func(l string) bool { return strings.Contains(l, s) })
}

func (gb *gatewayBinary) all() []string {
	gb.mu.Lock()
	defer gb.mu.Unlock()
	return append([]string(nil), gb.lines...)
}

// waitLine waits up to 15 s for a log line holding s and returns it.
func (gb *gatewayBinary) waitLine(t *testing.T, s string) string {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		for _, l := range gb.all() {
			if strings.Contains(l, s) {
				return l
			}
		}
		select {
		case <-gb.added:
		case <-deadline:
			t.Fatalf("rtspgate %s never logged %q:\n%s", gb.url, s, strings.Join(gb.all(), "\n"))
		}
	}
}

// TestPktSize: ffmpeg publishes its usual 1472-byte packets over TCP. With
// rtsp.pkt_size unset they reach a UDP reader whole (nothing a datagram can
// carry is cut); with pkt_size: 1200 every datagram is at most 1200 bytes,
// and ffmpeg over UDP still decodes with no error.
func TestPktSize(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, yml string
		max       int  // the largest datagram allowed
		cut       bool // whether the publisher's packets must have been cut
	}{
		{"unset", "streams:\n  x:\n", 1472, false},
		{"1200", "rtsp:\n  pkt_size: 1200\nstreams:\n  x:\n", 1200, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			gw := startGateway(t, tc.yml, gatewayOpts{udp: true})
			url := gw.URL + "x"
			testpeer.PublishWith(t, url, "-re", "-f", "lavfi", "-i", "testsrc2=size=640x480:rate=25",
				"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25", "-bf", "0", "-b:v", "2M")
			gw.logs.waitFor(t, "the publisher starting", 15*time.Second, func(s string) bool { return strings.Contains(s, "publisher started") })
			rc := testpeer.DialRaw(t, url)
			tr := rc.PlayUDP(url, url+"/trackID=0")[0]
			largest := 0
			for _, p := range testpeer.ReadRTP(t, tr.RTP, func(ps []*rtp.Packet) bool { return len(ps) >= 200 }) {
				largest = max(largest, p.MarshalSize())
			}
			if largest > tc.max {
				t.Fatalf("a %d-byte datagram, want at most %d", largest, tc.max)
			}
			if tc.cut != (largest <= 1400) {
				t.Fatalf("largest datagram %d bytes: the publisher's 1472-byte packets were cut %v, want %v", largest, largest <= 1400, tc.cut)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
			defer cancel()
			frames, errLines, err := testpeer.DecodeCheck(ctx, url, "udp", 3)
			if err != nil || len(errLines) > 0 || frames < 50 {
				t.Fatalf("ffmpeg over UDP: %d frames, %v %v", frames, err, errLines)
			}
		})
	}
}

// TestUDPReaderBehindSmallMTU: an ffmpeg UDP reader in another network
// namespace, behind a veth pair with a 1000-byte MTU (a tunnel, a VPN). The
// kernel refuses the demo's fragments segmented (each is larger than the
// route takes), so the writer sends them one by one, which the kernel cuts
// into IP fragments: ffmpeg decodes with no error, nothing is counted as
// dropped, and the log says segmentation was refused on that route.
func TestUDPReaderBehindSmallMTU(t *testing.T) {
	t.Parallel()
	ns := testpeer.NetNS(t)
	ns.SetMTU(t, 1000)
	gw := startGateway(t, "", gatewayOpts{demo: true, listen: "0.0.0.0:0", udp: true})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	url := fmt.Sprintf("rtsp://%s:%d/demo", ns.HostIP(), gw.Port)
	frames, errLines, err := ns.DecodeCheck(ctx, url, "udp", 3)
	if err != nil || len(errLines) > 0 || frames < 40 {
		t.Fatalf("reader behind a 1000-byte MTU over UDP: %d frames, %v %v", frames, err, errLines)
	}
	logs := gw.logs.String()
	if !strings.Contains(logs, "refused UDP segmentation offload") || !strings.Contains(logs, ns.NSIP()) {
		t.Errorf("the log does not tell of the refusal to %s:\n%s", ns.NSIP(), logs)
	}
	st := gw.app.Registry.Get("demo").Stats()
	for _, reason := range []string{stream.DropTooBigUDP, stream.DropUDPWrite} {
		if n := st.Drops[reason]; n != 0 {
			t.Errorf("%d drops %q", n, reason)
		}
	}
}
