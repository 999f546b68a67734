package e2e

import (
	"context"
	"io"
	"math/rand/v2"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rtspgate/rtspgate/internal/testpeer"
)

// stuckReader connects, plays the stream over TCP and then never reads.
func stuckReader(t *testing.T, base, name string) net.Conn {
	t.Helper()
	url := base + name
	rc := testpeer.DialRaw(t, url)
	rc.Conn.(*net.TCPConn).SetReadBuffer(4096)
	rc.Send("DESCRIBE", url, "Accept: application/sdp\r\n")
	if st, _ := rc.Response(); !strings.Contains(st, "200") {
		t.Fatalf("DESCRIBE: %s", st)
	}
	rc.PlayTCP(url, url+"/trackID=0")
	return rc.Conn
}

// TestStuckReaderDoesNotSlowOthers: a reader that PLAYs and never
// reads is dropped by its write deadline while another reader decodes
// every frame without errors.
func TestStuckReaderDoesNotSlowOthers(t *testing.T) {
	t.Parallel()
	clip := heavyClip(t)
	gw := startGateway(t, "streams:\n  cam:\n", gatewayOpts{writeTimeout: 2 * time.Second})
	url := gw.URL + "cam"
	testpeer.Publish(t, clip, url, true)
	gw.logs.waitFor(t, "the publisher starting", 15*time.Second, func(s string) bool { return strings.Contains(s, "publisher started") })
	stuck := stuckReader(t, gw.URL, "cam")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	frames, errLines, err := testpeer.DecodeCheck(ctx, url, "tcp", 4)
	if err != nil || len(errLines) > 0 {
		t.Fatalf("reader beside a stuck one: %v %v", err, errLines)
	}
	// 4 s at 25 fps, starting at the next keyframe (at most 1 s away)
	if frames < 65 {
		t.Fatalf("reader beside a stuck one decoded %d frames in 4 s, want >= 65", frames)
	}
	stuckPeer := stuck.LocalAddr().String()
	gw.logs.waitFor(t, "the stuck reader dropped", 20*time.Second, func(s string) bool {
		for _, l := range strings.Split(s, "\n") {
			if strings.Contains(l, "reader dropped") && strings.Contains(l, stuckPeer) {
				return true
			}
		}
		return false
	})
}

// TestMalformedRequestsEndOnlyTheirConnection: garbage on one
// connection ends that connection; a reader playing at the same time is not
// disturbed and the stream keeps serving new readers.
func TestMalformedRequestsEndOnlyTheirConnection(t *testing.T) {
	t.Parallel()
	gw := startGateway(t, "", gatewayOpts{demo: true})
	url := gw.URL + "demo"
	keep := testpeer.StartReader(t, url)
	gw.logs.waitFor(t, "the reader starting", 15*time.Second, func(s string) bool { return strings.Contains(s, "reader started") })
	addr := strings.TrimSuffix(strings.TrimPrefix(gw.URL, "rtsp://"), "/")

	rnd := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 64<<10)
	for i := range random {
		random[i] = byte(rnd.UintN(256))
	}
	cases := []struct {
		name, payload string
		ok200         bool // a lenient but well-formed answer is fine
	}{
		{"random bytes", string(random), false},
		{"bad CSeq", "OPTIONS " + url + " RTSP/1.0\r\nCSeq: abc\r\n\r\n", true},
		{"no CSeq", "DESCRIBE " + url + " RTSP/1.0\r\n\r\n", false},
		{"huge Content-Length", "ANNOUNCE " + url + " RTSP/1.0\r\nCSeq: 1\r\nContent-Type: application/sdp\r\nContent-Length: 999999999\r\n\r\nv=0\r\n", false},
		{"broken Transport", "SETUP " + url + "/trackID=0 RTSP/1.0\r\nCSeq: 1\r\nTransport: RTP/AVP/TCP;;interleaved=99-1;unicast=;=\r\n\r\n", false},
		{"$ frames before SETUP", "$\x00\x00\x10" + strings.Repeat("\xff", 16) + "$\x01\xff\xff" + strings.Repeat("A", 300), false},
		{"huge header line", "OPTIONS " + url + " RTSP/1.0\r\nCSeq: 1\r\nX-Long: " + strings.Repeat("x", 200<<10) + "\r\n\r\n", false},
		{"bad URL", "DESCRIBE rtsp://[::1 RTSP/1.0\r\nCSeq: 1\r\n\r\n", false},
		{"binary method", "\x00\x01\x02 * RTSP/1.0\r\nCSeq: 1\r\n\r\n", false},
	}
	for _, tc := range cases {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		go io.WriteString(c, tc.payload) // the server may close before reading it all
		// read the answer's head, or until the server closes
		var answer []byte
		buf := make([]byte, 4096)
		for !strings.Contains(string(answer), "\r\n\r\n") {
			n, err := c.Read(buf)
			answer = append(answer, buf[:n]...)
			if err != nil {
				break
			}
		}
		c.Close()
		status := firstLine(string(answer))
		switch {
		case len(answer) == 0:
		case strings.HasPrefix(status, "RTSP/1.0 4"):
		case tc.ok200 && strings.HasPrefix(status, "RTSP/1.0 200"):
		default:
			t.Errorf("%s: server answered %q, want a 4xx or a closed connection", tc.name, status)
		}
		select {
		case <-keep.Done():
			t.Fatalf("after %s: the playing reader was disconnected: %s", tc.name, keep.Stderr())
		default:
		}
	}
	if _, err := testpeer.FFprobe(context.Background(), url, "tcp"); err != nil {
		t.Fatalf("stream after malformed requests: %v", err)
	}
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// heavyClip makes a 2 s, 8 Mbit/s H.264 clip (noise does not compress), so
// that a reader that does not read fills its socket buffers in seconds.
func heavyClip(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "heavy.mp4")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=2,noise=alls=60:allf=t",
		"-c:v", "libx264", "-preset", "ultrafast", "-b:v", "8M", "-g", "25", "-pix_fmt", "yuv420p", path).CombinedOutput()
	if err != nil {
		t.Fatalf("make heavy clip: %v\n%s", err, out)
	}
	return path
}
