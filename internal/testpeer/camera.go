package testpeer

import (
	"context"
	_ "embed"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

//go:embed camera.py
var cameraScript []byte

const (
	// systemPython is the interpreter with the gi module; a pyenv or venv
	// python3 on PATH usually lacks it.
	systemPython = "/usr/bin/python3"

	cameraReadyTimeout = 20 * time.Second
	// cameraBindRetry is how long a busy port is retried.
	cameraBindRetry = 3 * time.Second
	// cameraMissingExit is camera.py's exit status for a missing package.
	cameraMissingExit = 3

	cameraPackages = "python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base " +
		"gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav"
)

// CameraOptions configures a camera started by StartCamera. The zero value is
// an H.264 + PCMA camera at /cam on a free port, without authentication.
type CameraOptions struct {
	// Path is the mount path, "/cam" if empty.
	Path string
	// Audio is "pcma" (G.711 A-law, 8 kHz, payload type 8), "aac" (48 kHz
	// mono, MPEG4-GENERIC) or "none"; "pcma" if empty.
	Audio string
	// Video is "h264" or "h265", "h264" if empty. Always 320x240, 25 fps,
	// a key frame every 25 frames, parameter sets in band.
	Video string
	// User and Password enable Digest authentication when both are set.
	User, Password string
	// Backchannel makes an ONVIF camera with a G.711 audio backchannel (see
	// BackchannelCodec). Its SDP lists the backchannel only for a DESCRIBE
	// with "Require: www.onvif.org/ver20/backchannel". The camera prints
	// "backchannel-bytes N" every 200 ms while N changes and at exit (see
	// BackchannelBytes), "backchannel-codec C" when bytes in codec C first
	// arrive, "backchannel-buffers N" every second and at exit (see
	// BackchannelBuffers), "backchannel-setup ok" for each SETUP of the
	// backchannel, and the "describe …" lines of RequireLog.
	Backchannel bool
	// BackchannelCodec is the backchannel's codec: "pcmu" (G.711 µ-law,
	// payload type 0; the default), "pcma" (A-law, payload type 8) or
	// "pcmu,pcma". GStreamer offers the two codecs of "pcmu,pcma" as two
	// sendonly m=audio sections, PCMU then PCMA, with the same control URL;
	// a client sets up one of them and sends that codec (after SETUPs of
	// both, only one of them gets through). Needs Backchannel.
	BackchannelCodec string
	// RefuseBackchannelSetup makes a doorbell that allows no talk session:
	// the SDP lists the backchannel (for a DESCRIBE with the Require), but a
	// SETUP of it gets 453 Not Enough Bandwidth and the camera prints
	// "backchannel-setup refused". The other SETUPs work. Needs Backchannel.
	RefuseBackchannelSetup bool
	// RequireLog prints "require: VALUE" for each Require header of each
	// DESCRIBE, and "require-none" for a DESCRIBE without one. With
	// RequireLog or Backchannel, each DESCRIBE also prints "describe
	// onvif-require" or "describe no-onvif-require"; see DescribesWithRequire.
	RequireLog bool
	// RejectBackchannel answers 551 Option Not Supported to a DESCRIBE that
	// requires the ONVIF backchannel (a camera that refuses it).
	RejectBackchannel bool
	// SessionLog prints "sessions N" whenever the number of open RTSP
	// sessions changes; see MaxSessions.
	SessionLog bool
	// Port to listen on at 127.0.0.1; 0 lets the camera pick a free one.
	Port int
}

// Camera is a running GStreamer RTSP server acting as an IP camera.
type Camera struct {
	// Port is the TCP port on 127.0.0.1; it stays the same across Restart.
	Port int
	// URL is rtsp://127.0.0.1:PORT/path, without credentials.
	URL string

	opt    CameraOptions
	script string
	stderr *tailBuffer

	mu      sync.Mutex
	lines   []string
	changed chan struct{} // closed and replaced when lines grows
	proc    *Process
}

// StartCamera starts camera.py with /usr/bin/python3, waits until it listens
// (at most 20 s) and registers a cleanup that stops it. A missing interpreter,
// gi module, typelib or GStreamer element fails the test with the Debian
// packages to install.
func StartCamera(t testing.TB, opt CameraOptions) *Camera {
	t.Helper()
	if opt.Path == "" {
		opt.Path = "/cam"
	}
	if !strings.HasPrefix(opt.Path, "/") {
		opt.Path = "/" + opt.Path
	}
	if opt.Audio == "" {
		opt.Audio = "pcma"
	}
	if opt.Video == "" {
		opt.Video = "h264"
	}
	if (opt.User == "") != (opt.Password == "") {
		t.Fatalf("testpeer: CameraOptions needs both User and Password, or neither")
	}
	if !opt.Backchannel && (opt.BackchannelCodec != "" || opt.RefuseBackchannelSetup) {
		t.Fatalf("testpeer: CameraOptions.BackchannelCodec and RefuseBackchannelSetup need Backchannel")
	}
	if opt.BackchannelCodec == "" {
		opt.BackchannelCodec = "pcmu"
	}
	switch opt.BackchannelCodec {
	case "pcmu", "pcma", "pcmu,pcma", "pcma,pcmu":
	default:
		t.Fatalf("testpeer: CameraOptions.BackchannelCodec %q, want pcmu, pcma or pcmu,pcma", opt.BackchannelCodec)
	}
	if _, err := os.Stat(systemPython); err != nil {
		t.Fatalf("testpeer: camera needs %s (Debian packages python3 %s): %v", systemPython, cameraPackages, err)
	}

	script := filepath.Join(t.TempDir(), "camera.py")
	if err := os.WriteFile(script, cameraScript, 0o644); err != nil {
		t.Fatalf("testpeer: write camera.py: %v", err)
	}
	c := &Camera{
		opt:     opt,
		script:  script,
		stderr:  newTailBuffer(64 << 10),
		changed: make(chan struct{}),
	}
	t.Cleanup(func() {
		c.mu.Lock()
		p := c.proc
		c.mu.Unlock()
		if p != nil && p.exitedOnItsOwn() {
			t.Errorf("testpeer: camera %s exited during the test: %v", c.URL, p.Err())
		}
		c.Stop()
		if t.Failed() {
			t.Logf("testpeer: camera %s stderr:\n%s", c.URL, c.stderr.String())
		}
	})
	c.start(t, opt.Port)
	return c
}

// Restart starts the camera again on the same port and path, after stopping
// it if it still runs. Lines seen before are kept.
func (c *Camera) Restart(t testing.TB) {
	t.Helper()
	c.Stop()
	c.start(t, c.Port)
}

// Stop stops the camera now (SIGTERM, then SIGKILL after 3 s) and waits for
// it. It is idempotent.
func (c *Camera) Stop() {
	c.mu.Lock()
	p := c.proc
	c.mu.Unlock()
	if p != nil {
		p.Stop()
	}
}

// AuthURL is URL with the camera's user and password in it.
func (c *Camera) AuthURL() string {
	if c.opt.User == "" {
		return c.URL
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return c.URL
	}
	u.User = url.UserPassword(c.opt.User, c.opt.Password)
	return u.String()
}

// Lines returns the stdout lines the camera printed so far, across restarts:
// "port N" and "ready" at each start, then the lines described in
// CameraOptions ("require: …", "describe …", "backchannel-bytes N", …).
func (c *Camera) Lines() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.lines...)
}

// WaitLine waits until the camera has printed a line for which match returns
// true (earlier lines count) and returns it.
func (c *Camera) WaitLine(ctx context.Context, match func(line string) bool) (string, error) {
	seen := 0
	for {
		c.mu.Lock()
		lines, changed := c.lines[seen:], c.changed
		seen = len(c.lines)
		c.mu.Unlock()
		for _, l := range lines {
			if match(l) {
				return l, nil
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return "", fmt.Errorf("camera %s: no matching line: %w", c.URL, ctx.Err())
		}
	}
}

// BackchannelBuffers is the last "backchannel-buffers N" count the camera
// printed since it last started (it prints one every second and one when it
// stops), or 0.
func (c *Camera) BackchannelBuffers() int {
	return c.lastCount("backchannel-buffers ")
}

// BackchannelBytes is the last "backchannel-bytes N" count the camera printed
// since it last started: the G.711 payload bytes its backchannel received,
// 8000 per second of audio. It lags the camera by up to 200 ms.
func (c *Camera) BackchannelBytes() int {
	return c.lastCount("backchannel-bytes ")
}

// WaitBackchannelBytes waits until BackchannelBytes is at least n.
func (c *Camera) WaitBackchannelBytes(ctx context.Context, n int) error {
	if err := c.waitFor(ctx, func() bool { return c.BackchannelBytes() >= n }); err != nil {
		return fmt.Errorf("camera %s: backchannel bytes %d, want %d: %w", c.URL, c.BackchannelBytes(), n, err)
	}
	return nil
}

// DescribesWithRequire is the number of DESCRIBEs so far, across restarts,
// that carried "Require: www.onvif.org/ver20/backchannel" (with Backchannel
// or RequireLog). A DESCRIBE answered 401 counts too: GStreamer reports it
// before the authentication check. The count trails the camera by the
// pipe; WaitLine for "describe onvif-require" waits for the first one.
func (c *Camera) DescribesWithRequire() int {
	return c.countLines("describe onvif-require")
}

// DescribesWithoutRequire is the number of DESCRIBEs so far, across
// restarts, without the ONVIF backchannel Require (with Backchannel or
// RequireLog).
func (c *Camera) DescribesWithoutRequire() int {
	return c.countLines("describe no-onvif-require")
}

// lastCount parses the last "PREFIX N" line since the last "ready".
func (c *Camera) lastCount(prefix string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.lines) - 1; i >= 0 && c.lines[i] != "ready"; i-- {
		if v, ok := strings.CutPrefix(c.lines[i], prefix); ok {
			if n, err := strconv.Atoi(v); err == nil {
				return n
			}
		}
	}
	return 0
}

func (c *Camera) countLines(line string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, l := range c.lines {
		if l == line {
			n++
		}
	}
	return n
}

// waitFor waits until ok, which reads the lines, returns true.
func (c *Camera) waitFor(ctx context.Context, ok func() bool) error {
	for {
		// Take the channel first so that a line added after ok() wakes us.
		c.mu.Lock()
		changed := c.changed
		c.mu.Unlock()
		if ok() {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// MaxSessions is the largest number of RTSP sessions the camera had open at
// once so far (with SessionLog).
func (c *Camera) MaxSessions() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	most := 0
	for _, l := range c.lines {
		var n int
		if _, err := fmt.Sscanf(l, "sessions %d", &n); err == nil {
			most = max(most, n)
		}
	}
	return most
}

// Sessions is the number of RTSP sessions the camera has open now, as it
// last printed since it last started (with SessionLog; it looks every 50 ms).
func (c *Camera) Sessions() int {
	return c.lastCount("sessions ")
}

// WaitSessions waits until Sessions is n.
func (c *Camera) WaitSessions(ctx context.Context, n int) error {
	if err := c.waitFor(ctx, func() bool { return c.Sessions() == n }); err != nil {
		return fmt.Errorf("camera %s: %d sessions, want %d: %w", c.URL, c.Sessions(), n, err)
	}
	return nil
}

func (c *Camera) addLine(l string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lines = append(c.lines, l)
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *Camera) args(port int) []string {
	a := []string{"-u", c.script,
		"--port", strconv.Itoa(port),
		"--path", c.opt.Path,
		"--audio", c.opt.Audio,
		"--video", c.opt.Video,
	}
	if c.opt.User != "" {
		a = append(a, "--user", c.opt.User, "--password", c.opt.Password)
	}
	if c.opt.Backchannel {
		a = append(a, "--backchannel", "--backchannel-codec", c.opt.BackchannelCodec)
	}
	if c.opt.RefuseBackchannelSetup {
		a = append(a, "--refuse-backchannel-setup")
	}
	if c.opt.RequireLog {
		a = append(a, "--require-log")
	}
	if c.opt.RejectBackchannel {
		a = append(a, "--reject-backchannel")
	}
	if c.opt.SessionLog {
		a = append(a, "--session-log")
	}
	return a
}

// start runs camera.py until it prints "ready". A port still held by the
// previous run (Restart) is retried for 3 s.
func (c *Camera) start(t testing.TB, port int) {
	t.Helper()
	deadline := time.Now().Add(cameraReadyTimeout)
	bindDeadline := time.Now().Add(cameraBindRetry)
	for {
		retry, err := c.startOnce(port, deadline)
		if err == nil {
			return
		}
		if retry && port != 0 && time.Now().Before(bindDeadline) {
			time.Sleep(200 * time.Millisecond)
			continue
		}
		t.Fatalf("testpeer: %v", err)
	}
}

func (c *Camera) startOnce(port int, deadline time.Time) (retry bool, err error) {
	ready := make(chan int, 1) // the bound port
	boundPort := 0
	onLine := func(l string) {
		if v, ok := strings.CutPrefix(l, "port "); ok {
			boundPort, _ = strconv.Atoi(v)
		}
		c.addLine(l)
		if l == "ready" {
			select {
			case ready <- boundPort:
			default:
			}
		}
	}
	fmt.Fprintf(c.stderr, "--- camera.py start port=%d at %s\n", port, time.Now().Format(time.TimeOnly))
	cmd := exec.Command(systemPython, c.args(port)...)
	p, err := startProcess(cmd, onLine, c.stderr)
	if err != nil {
		return false, fmt.Errorf("camera: %w (Debian packages python3 %s)", err, cameraPackages)
	}

	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case got := <-ready:
		c.mu.Lock()
		c.proc = p
		c.mu.Unlock()
		if c.URL == "" { // first start; Restart keeps both
			c.Port = got
			c.URL = fmt.Sprintf("rtsp://127.0.0.1:%d%s", got, c.opt.Path)
		} else if got != c.Port {
			return false, fmt.Errorf("camera restarted on port %d, want %d", got, c.Port)
		}
		return false, nil
	case <-p.Done():
		code := p.exitCode()
		if code == cameraMissingExit {
			return false, fmt.Errorf("camera cannot run, a system package is missing (install %s):\n%s",
				cameraPackages, lastLines(c.stderr.String(), 20))
		}
		msg := lastLines(c.stderr.String(), 30)
		return strings.Contains(msg, "cannot listen"),
			fmt.Errorf("camera.py exited before ready (status %d):\n%s", code, msg)
	case <-timer.C:
		p.Stop()
		return false, fmt.Errorf("camera.py not ready after %v:\n%s", cameraReadyTimeout,
			lastLines(c.stderr.String(), 30))
	}
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
