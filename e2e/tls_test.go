package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rtspgate/rtspgate/internal/testpeer"
)

// tlsCamera is a GStreamer camera reachable over TLS only through stunnel,
// with a byte-counting hop between stunnel and the camera.
type tlsCamera struct {
	cam     *testpeer.Camera
	certs   testpeer.Certs
	tlsPort int
	// fromCamera counts the bytes the camera sent on the TCP connections
	// that stunnel opened: RTSP answers and, when interleaved, the RTP.
	fromCamera *atomic.Int64
}

// startTLSCamera puts stunnel in front of a camera, with the CA-signed
// certificate or the self-signed one.
func startTLSCamera(t *testing.T, selfSigned bool) *tlsCamera {
	t.Helper()
	cam := testpeer.StartCamera(t, testpeer.CameraOptions{Path: "/cam", Audio: "pcma"})
	certs := testpeer.MakeCerts(t)
	hop, counted := countingProxy(t, fmt.Sprintf("127.0.0.1:%d", cam.Port))
	opt := testpeer.StunnelOptions{Target: hop, CertFile: certs.CertFile, KeyFile: certs.KeyFile}
	if selfSigned {
		opt.CertFile, opt.KeyFile = certs.SelfSignedCertFile, certs.SelfSignedKeyFile
	}
	return &tlsCamera{cam: cam, certs: certs, tlsPort: testpeer.StartStunnel(t, opt), fromCamera: counted}
}

// countingProxy forwards each TCP connection to target and counts what
// target sends back. It stops with the test.
func countingProxy(t *testing.T, target string) (string, *atomic.Int64) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	var mu sync.Mutex
	var conns []net.Conn
	closed := false
	var wg sync.WaitGroup
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		closed = true
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, in, out)
			if closed { // accepted as the test ended
				in.Close()
				out.Close()
			}
			mu.Unlock()
			// either side ending ends both, as a TCP hop would
			wg.Go(func() { _, _ = io.Copy(out, in); out.Close(); in.Close() })
			wg.Go(func() { _, _ = io.Copy(countWriter{in, &n}, out); in.Close(); out.Close() })
		}
	})
	return l.Addr().String(), &n
}

type countWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countWriter) Write(p []byte) (int, error) {
	k, err := c.w.Write(p)
	c.n.Add(int64(k))
	return k, err
}

// TestTLSRtspxPlays: rtspx:// connects to a camera behind stunnel
// without checking its certificate, and the media arrives inside that TLS
// connection: the camera has no other way to the gateway.
func TestTLSRtspxPlays(t *testing.T) {
	t.Parallel()
	tc := startTLSCamera(t, false)
	gw := startGateway(t, fmt.Sprintf("streams:\n  cam: rtspx://127.0.0.1:%d/cam\n", tc.tlsPort), gatewayOpts{})
	url := gw.URL + "cam"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	streams, err := testpeer.FFprobe(ctx, url, "tcp")
	if err != nil {
		t.Fatal(err)
	}
	if got := codecsOf(streams); got != "video:h264,audio:pcm_alaw" {
		t.Fatalf("ffprobe through rtspgate: %s, want video:h264,audio:pcm_alaw", got)
	}
	before := tc.fromCamera.Load()
	frames, errLines, err := testpeer.DecodeCheck(ctx, url, "tcp", 2)
	if err != nil {
		t.Fatalf("ffmpeg: %v %v", err, errLines)
	}
	if len(errLines) > 0 {
		t.Errorf("decode errors: %s", strings.Join(errLines, "\n"))
	}
	// 2 s at 25 fps; video starts at the next key frame, up to 1 s in
	if frames < 20 {
		t.Errorf("decoded %d frames in 2 s, want >= 20", frames)
	}
	// RTSP answers are a few kB; 2 s of A-law audio alone are 16 kB
	sent := tc.fromCamera.Load() - before
	t.Logf("the camera sent %d bytes through stunnel while ffmpeg decoded 2 s", sent)
	if sent < 20_000 {
		t.Errorf("the camera sent %d bytes through stunnel while ffmpeg decoded 2 s, want the RTP (>= 20000)", sent)
	}
}

// TestTLSRtspsSelfSignedRefused: rtsps:// checks the certificate, for a
// host name and for an IP address. A self-signed one is refused: the reader
// gets 503 and the log says why and suggests rtspx://.
func TestTLSRtspsSelfSignedRefused(t *testing.T) {
	t.Parallel()
	tc := startTLSCamera(t, true)
	yml := fmt.Sprintf("streams:\n  byname: rtsps://localhost:%d/cam\n  byip: rtsps://127.0.0.1:%d/cam\n", tc.tlsPort, tc.tlsPort)
	gw := startGateway(t, yml, gatewayOpts{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, name := range []string{"byname", "byip"} {
		if _, err := testpeer.FFprobe(ctx, gw.URL+name, "tcp"); err == nil || !strings.Contains(err.Error(), "503") {
			t.Errorf("%s: %v, want a 503 refusal", name, err)
		}
		var failure string
		gw.logs.waitFor(t, name+"'s failed source", 5*time.Second, func(s string) bool {
			failure = sourceFailure(s, name)
			return failure != ""
		})
		t.Logf("%s: %s", name, failure)
		if !strings.Contains(failure, "rtspx://") || !strings.Contains(failure, "certificate") {
			t.Errorf("%s: the failure does not name the certificate and suggest rtspx://:\n%s", name, failure)
		}
	}
}

// sourceFailure is the first "source failed" line of stream name, or "".
func sourceFailure(logs, name string) string {
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, "source failed") && strings.Contains(l, " stream="+name+" ") {
			return l
		}
	}
	return ""
}

// TestTLSRtspsTrustedCA: with the test CA trusted through
// SSL_CERT_FILE, rtsps:// plays with verification on, by host name and by
// IP address. Go reads SSL_CERT_FILE once per process, so this runs the
// real binary.
func TestTLSRtspsTrustedCA(t *testing.T) {
	t.Parallel()
	tc := startTLSCamera(t, false)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "rtspgate.yaml")
	yml := fmt.Sprintf("rtsp:\n  listen: 127.0.0.1:0\napi:\n  listen: \"\"\nstreams:\n"+
		"  cam: rtsps://localhost:%d/cam\n  cam_ip: rtsps://127.0.0.1:%d/cam\n", tc.tlsPort, tc.tlsPort)
	if err := os.WriteFile(cfg, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	listening := make(chan string, 1)
	// the last value wins, should the environment name a CA file already
	b := startBinary(t, dir, []string{"SSL_CERT_FILE=" + tc.certs.CAFile}, func(line string) {
		fmt.Fprintln(logs, line)
		if strings.Contains(line, "RTSP server listening") {
			listening <- line
		}
	}, "-c", cfg)
	t.Cleanup(func() {
		b.stop(t)
		if t.Failed() {
			t.Logf("rtspgate log:\n%s", logs.String())
		}
	})
	base := b.waitListenURL(t, listening)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// one after the other: the camera's shared media is being prepared
	// while the first session starts
	for _, name := range []string{"cam", "cam_ip"} {
		streams, err := testpeer.FFprobe(ctx, base+name, "tcp")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := codecsOf(streams); !strings.HasPrefix(got, "video:h264") {
			t.Errorf("%s: ffprobe through rtspgate: %s, want video:h264 first", name, got)
		}
	}
	b.stop(t)
	if l := logs.String(); strings.Contains(l, "source failed") {
		t.Errorf("a source failed with the CA trusted:\n%s", l)
	}
}
