package testpeer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	ffprobeTimeout = 15 * time.Second
	// decodeSlack is added to the decoded duration when DecodeCheck's
	// context has no deadline: connecting and buffering take a while.
	decodeSlack = 20 * time.Second
	clipTimeout = 60 * time.Second

	// harmlessDTS is the null muxer's warning for some streams; it is not a
	// decode error (ffmpeg prints it even at -v error).
	harmlessDTS = "non monotonically increasing dts"
	// lastRepeated is how ffmpeg folds a line printed again.
	lastRepeated = "Last message repeated"
)

// ProbeStream is one stream as ffprobe reports it.
type ProbeStream struct {
	CodecType  string `json:"codec_type"`  // "video", "audio", …
	CodecName  string `json:"codec_name"`  // "h264", "hevc", "pcm_alaw", "aac", …
	Width      int    `json:"width"`       // video only
	Height     int    `json:"height"`      // video only
	SampleRate string `json:"sample_rate"` // audio only, e.g. "8000"
}

// FFprobe runs `ffprobe -v error -rtsp_transport TRANSPORT -show_streams -of
// json URL` and returns its streams. An empty transport leaves the option out
// (for files). Without a deadline in ctx it gives up after 15 s. The error
// carries ffprobe's stderr.
func FFprobe(ctx context.Context, url, transport string) ([]ProbeStream, error) {
	ctx, cancel := withDefaultTimeout(ctx, ffprobeTimeout)
	defer cancel()

	args := []string{"-hide_banner", "-v", "error"}
	if transport != "" {
		args = append(args, "-rtsp_transport", transport)
	}
	args = append(args, "-show_streams", "-of", "json", url)
	cmd := exec.CommandContext(ctx, "ffprobe", args...)
	cmd.SysProcAttr = childSysProcAttr()
	cmd.WaitDelay = 2 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("ffprobe %s (%s): %w: %s", url, transport, err, strings.TrimSpace(stderr.String()))
	}
	var out struct {
		Streams []ProbeStream `json:"streams"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		return nil, fmt.Errorf("ffprobe %s: parse output: %w: %s", url, err, stdout.String())
	}
	return out.Streams, nil
}

// DecodeCheck decodes SECONDS of url with `ffmpeg -v error -rtsp_transport
// TRANSPORT -i URL -t SECONDS -f null -` and returns the number of video
// frames decoded and ffmpeg's error lines, without the harmless "non
// monotonically increasing dts" ones. err is set when ffmpeg fails or ctx
// ends; frames and errLines are filled in anyway. Without a deadline in ctx
// it gives up after seconds + 20 s.
func DecodeCheck(ctx context.Context, url, transport string, seconds float64) (frames int, errLines []string, err error) {
	return decodeCheck(ctx, exec.CommandContext, url, transport, seconds)
}

// DecodeCheck is testpeer.DecodeCheck with ffmpeg inside the namespace.
func (ns *Namespace) DecodeCheck(ctx context.Context, url, transport string, seconds float64) (frames int, errLines []string, err error) {
	return decodeCheck(ctx, ns.Command, url, transport, seconds)
}

func decodeCheck(ctx context.Context, command func(context.Context, string, ...string) *exec.Cmd, url, transport string, seconds float64) (frames int, errLines []string, err error) {
	ctx, cancel := withDefaultTimeout(ctx, time.Duration(seconds*float64(time.Second))+decodeSlack)
	defer cancel()

	args := []string{"-nostdin", "-hide_banner", "-nostats", "-v", "error"}
	if transport != "" {
		args = append(args, "-rtsp_transport", transport)
	}
	args = append(args, "-i", url,
		"-t", strconv.FormatFloat(seconds, 'f', -1, 64),
		"-f", "null", "-", "-progress", "pipe:1")
	cmd := command(ctx, "ffmpeg", args...)
	cmd.SysProcAttr = childSysProcAttr()
	cmd.WaitDelay = 2 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()

	// -progress prints blocks of key=value lines; the last frame= counts.
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "frame="); ok {
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
				frames = n
			}
		}
	}
	errLines = decodeErrors(stderr.String())
	if runErr != nil {
		return frames, errLines, fmt.Errorf("ffmpeg decode %s (%s): %w: %s", url, transport, runErr, strings.Join(errLines, "\n"))
	}
	return frames, errLines, nil
}

// decodeErrors returns ffmpeg's stderr lines that tell of a decode error:
// all but blank lines, the harmless DTS warning, and ffmpeg's "Last message
// repeated N times" after a line that was itself harmless.
func decodeErrors(stderr string) []string {
	var out []string
	harmless := false
	for _, l := range strings.Split(stderr, "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		if strings.Contains(l, lastRepeated) {
			if !harmless {
				out = append(out, l)
			}
			continue
		}
		harmless = strings.Contains(l, harmlessDTS)
		if !harmless {
			out = append(out, l)
		}
	}
	return out
}

// Publish runs `ffmpeg -re [-stream_loop -1] -i FILE -c copy -rtsp_transport
// tcp -f rtsp URL` in the background (an RTSP publisher, ANNOUNCE + RECORD).
// The test's cleanup stops it; its stderr is logged if the test failed.
func Publish(t testing.TB, file, url string, loop bool) *Process {
	t.Helper()
	args := []string{"-re"}
	if loop {
		args = append(args, "-stream_loop", "-1")
	}
	return PublishWith(t, url, append(args, "-i", file, "-c", "copy")...)
}

// PublishWith is Publish with the inputs and options given: `ffmpeg ARGS
// -rtsp_transport tcp -f rtsp URL`, e.g. a lavfi source encoded live.
func PublishWith(t testing.TB, url string, args ...string) *Process {
	t.Helper()
	all := append([]string{"-nostdin", "-hide_banner", "-nostats", "-v", "warning"}, args...)
	all = append(all, "-rtsp_transport", "tcp", "-f", "rtsp", url)
	p, err := startProcess(exec.Command("ffmpeg", all...), nil, nil)
	if err != nil {
		t.Fatalf("testpeer: publish to %s: %v (Debian package ffmpeg)", url, err)
	}
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("testpeer: publisher to %s: exit %v, stderr:\n%s", url, p.Err(), p.Stderr())
		}
	})
	return p
}

// clips caches TestClip's files per duration for the whole test binary.
var clips struct {
	mu    sync.Mutex
	paths map[[2]int]string // by duration and GOP
}

// clipVersion names the encoding settings; change it when they change.
const clipVersion = "v1"

// TestClip returns an MP4 file of the given duration with H.264 video
// (320x240, 25 fps, a key frame every 25 frames, no B-frames) and AAC audio
// (48 kHz mono), made with ffmpeg's lavfi testsrc and sine. The file is
// made once and kept in the system temp dir (rtspgate-testpeer/), shared by
// test binaries; treat it as read-only.
func TestClip(t testing.TB, seconds int) string {
	t.Helper()
	return TestClipGOP(t, seconds, 25)
}

// TestClipGOP is TestClip with a key frame every gop frames.
func TestClipGOP(t testing.TB, seconds, gop int) string {
	t.Helper()
	if seconds <= 0 || gop <= 0 {
		t.Fatalf("testpeer: TestClipGOP needs a positive duration and GOP, got %d, %d", seconds, gop)
	}
	clips.mu.Lock()
	defer clips.mu.Unlock()
	key := [2]int{seconds, gop}
	if p, ok := clips.paths[key]; ok {
		return p
	}

	dir := filepath.Join(os.TempDir(), "rtspgate-testpeer")
	name := fmt.Sprintf("clip-%s-%ds.mp4", clipVersion, seconds)
	if gop != 25 {
		name = fmt.Sprintf("clip-%s-%ds-gop%d.mp4", clipVersion, seconds, gop)
	}
	path := filepath.Join(dir, name)
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		if err := makeClip(dir, path, seconds, gop); err != nil {
			t.Fatalf("testpeer: %v", err)
		}
	}
	if clips.paths == nil {
		clips.paths = map[[2]int]string{}
	}
	clips.paths[key] = path
	return path
}

// makeClip encodes the clip of TestClip.
func makeClip(dir, path string, seconds, gop int) error {
	g := strconv.Itoa(gop)
	return encodeOnce(dir, path, "test clip", func(out string) []string {
		return []string{
			"-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
			"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
			"-t", strconv.Itoa(seconds),
			"-map", "0:v", "-map", "1:a",
			"-c:v", "libx264", "-preset", "ultrafast", "-profile:v", "baseline", "-pix_fmt", "yuv420p",
			"-g", g, "-keyint_min", g, "-sc_threshold", "0", "-bf", "0",
			"-c:a", "aac", "-b:a", "64k", "-ac", "1",
			"-movflags", "+faststart", "-f", "mp4", out,
		}
	})
}

// encodeOnce runs ffmpeg with args(tmp) into a temp file in dir and renames
// it to path, so a concurrent test binary never sees half a file. what names
// the file in errors.
func encodeOnce(dir, path, what string, args func(tmp string) []string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	tmp, err := os.CreateTemp(dir, "encode-*.tmp")
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	tmpName := tmp.Name()
	tmp.Close()
	defer os.Remove(tmpName) // a no-op after the rename

	ctx, cancel := context.WithTimeout(context.Background(), clipTimeout)
	defer cancel()
	argv := append([]string{"-nostdin", "-hide_banner", "-v", "error", "-y"}, args(tmpName)...)
	cmd := exec.CommandContext(ctx, "ffmpeg", argv...)
	cmd.SysProcAttr = childSysProcAttr()
	cmd.WaitDelay = 2 * time.Second
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: ffmpeg (Debian package ffmpeg): %w: %s", what, err, strings.TrimSpace(string(out)))
	}
	if err := os.Rename(tmpName, path); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// withDefaultTimeout bounds ctx by d unless it already has a deadline.
func withDefaultTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}
