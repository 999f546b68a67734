package ffmpegsrc

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rtspgate/rtspgate/internal/ffmpeg"
	"github.com/rtspgate/rtspgate/internal/stream"
)

const testAddr = "127.0.0.1:8554"

// sourceSpec is a stream.SourceSpec as the config makes it from raw.
func sourceSpec(streamName, raw string) stream.SourceSpec {
	u, frag, _ := strings.Cut(raw, "#")
	sp := stream.SourceSpec{Stream: streamName, URL: u, Scheme: "ffmpeg", Options: map[string]string{}, Redacted: raw}
	if frag != "" {
		for part := range strings.SplitSeq(frag, "#") {
			k, v, _ := strings.Cut(part, "=")
			sp.Options[k] = v
			sp.List = append(sp.List, stream.Option{Key: k, Value: v})
		}
	}
	return sp
}

// fakePrivate hands out private paths and remembers which are in use.
type fakePrivate struct {
	mu   sync.Mutex
	n    int
	live map[string]stream.Publisher
}

func (f *fakePrivate) register(pub stream.Publisher) (string, func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	path := stream.PrivatePrefix + "p" + strconv.Itoa(f.n)
	if f.live == nil {
		f.live = map[string]stream.Publisher{}
	}
	f.live[path] = pub
	return path, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.live, path)
	}
}

func (f *fakePrivate) inUse() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.live)
}

func testKind(streams ...string) *Kind {
	priv := &fakePrivate{}
	return NewKind(Config{
		Runner:       &ffmpeg.Runner{},
		Private:      priv.register,
		RTSPAddr:     func() string { return testAddr },
		StreamExists: func(name string) bool { return slices.Contains(streams, name) },
	})
}

func open(t *testing.T, k *Kind, streamName, raw string) *Source {
	t.Helper()
	src, err := k.Open(sourceSpec(streamName, raw))
	if err != nil {
		t.Fatalf("Open(%q): %v", raw, err)
	}
	return src.(*Source)
}

func TestArgs(t *testing.T) {
	t.Parallel()
	clip := filepath.Join(t.TempDir(), "a clip.mp4")
	if err := os.WriteFile(clip, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	lead := []string{"-nostdin", "-nostats", "-v", "error", "-hide_banner"}
	out := []string{"-user_agent", "rtspgate/ffmpeg", "-rtsp_transport", "tcp", "-f", "rtsp", "rtsp://" + testAddr + "/_private/x"}
	rtspIn := func(media, url string) []string {
		return []string{"-allowed_media_types", media, "-fflags", "nobuffer", "-flags", "low_delay", "-timeout", "5000000",
			"-user_agent", "rtspgate/ffmpeg", "-rtsp_transport", "tcp", "-i", url}
	}
	cat := func(parts ...[]string) []string {
		var all []string
		for _, p := range parts {
			all = append(all, p...)
		}
		return all
	}
	tests := []struct {
		name, raw string
		want      []string
	}{
		{"file, copy by default", "ffmpeg:" + clip,
			cat(lead, []string{"-re", "-i", clip, "-c", "copy"}, out)},
		{"file, transcode", "ffmpeg:" + clip + "#video=h264#audio=pcma",
			cat(lead, []string{"-re", "-i", clip,
				"-c:v", "libx264", "-g", "50", "-profile:v", "high", "-level:v", "4.1", "-preset:v", "superfast", "-tune:v", "zerolatency", "-pix_fmt:v", "yuv420p",
				"-c:a", "pcm_alaw", "-ar:a", "8000", "-ac:a", "1"}, out)},
		{"camera of the spec, copy by default", "ffmpeg:rtsp://username:password@192.168.1.123/live/ch00_1",
			cat(lead, rtspIn("video+audio", "rtsp://username:password@192.168.1.123/live/ch00_1"), []string{"-c", "copy"}, out)},
		{"another stream", "ffmpeg:other",
			cat(lead, rtspIn("video+audio", "rtsp://"+testAddr+"/other?video&audio"), []string{"-c", "copy"}, out)},
		{"another stream, its video", "ffmpeg:other#video=copy",
			cat(lead, rtspIn("video", "rtsp://"+testAddr+"/other?video"), []string{"-c:v", "copy", "-an"}, out)},
		{"another stream, its audio twice, in order", "ffmpeg:other#audio=opus#audio=pcmu",
			cat(lead, rtspIn("audio", "rtsp://"+testAddr+"/other?audio"), []string{
				"-map", "0:a:0?", "-c:a:0", "libopus", "-application:a:0", "lowdelay", "-min_comp", "0",
				"-map", "0:a:0?", "-c:a:1", "pcm_mulaw", "-ar:a:1", "8000", "-ac:a:1", "1", "-vn"}, out)},
		{"raw input template, not a file", "ffmpeg:testsrc=size=160x120#input=-f lavfi -i {input}#video=mjpeg#raw=-r 5",
			cat(lead, []string{"-f", "lavfi", "-i", "testsrc=size=160x120", "-r", "5", "-c:v", "mjpeg", "-an"}, out)},
	}
	k := testKind("other")
	for _, tt := range tests {
		got, err := open(t, k, "me", tt.raw).args(testAddr, stream.PrivatePrefix+"x")
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, got, tt.want)
		}
	}
}

func TestOpenRefuses(t *testing.T) {
	t.Parallel()
	k := testKind("cam", "other")
	for _, tt := range []struct{ stream, raw, want string }{
		{"cam", "ffmpeg:cam", `stream "cam" reads itself`},
		{"cam", "ffmpeg:cam#video=h264", `stream "cam" reads itself`},
		{"cam", "ffmpeg:other#width=640", "#width is not supported by rtspgate yet"},
		{"cam", "ffmpeg:other#foo=1", "unknown option #foo"},
		{"cam", "ffmpeg:rtsp://u:p@h/x#audio=copy#vidoe=copy", "unknown option #vidoe"},
		{"cam", "ffmpeg:other#video=h266", "#video=h266: no such template"},
		{"cam", "ffmpeg:other#video", "#video needs a value"},
		{"cam", "ffmpeg:other#input=file#input=rtsp", "#input given twice"},
		{"cam", "ffmpeg:other#raw='x", "quote is not closed"},
		{"cam", "ffmpeg:", "needs an input"},
	} {
		_, err := k.Open(sourceSpec(tt.stream, tt.raw))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Open(%s: %s) = %v, want %q", tt.stream, tt.raw, err, tt.want)
		}
	}
	// another stream's name, a path or a URL that look like the stream are fine
	for _, raw := range []string{"ffmpeg:other", "ffmpeg:./cam", "ffmpeg:rtsp://127.0.0.1:8554/cam"} {
		if _, err := k.Open(sourceSpec("cam", raw)); err != nil {
			t.Errorf("Open(cam: %s): %v", raw, err)
		}
	}
	// the password of a URL never shows in an error
	_, err := k.Open(sourceSpec("cam", "ffmpeg:rtsp://u:hunter2#x@h/x"))
	if err == nil || strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "x@h") {
		t.Errorf("a '#' in a password: %v", err)
	}
}

// TestOptionOrderWithoutList: a caller that fills only Options still gets
// a working source.
func TestOptionOrderWithoutList(t *testing.T) {
	t.Parallel()
	sp := sourceSpec("s", "ffmpeg:other#video=copy#audio=pcmu")
	sp.List = nil
	src, err := testKind("other").Open(sp)
	if err != nil {
		t.Fatal(err)
	}
	if s := src.(*Source).spec; !reflect.DeepEqual(s.Video, []string{"copy"}) || !reflect.DeepEqual(s.Audio, []string{"pcmu"}) {
		t.Errorf("spec = %+v", s)
	}
}

// TestInputKinds: a URL stays, an existing file wins over a stream of the
// same name, a stream name becomes our loopback URL, and anything else is
// an error at Run that does not quote the input.
func TestInputKinds(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.WriteFile("clip.mp4", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	k := testKind("clip.mp4", "other")
	for _, tt := range []struct{ raw, input string }{
		{"ffmpeg:rtsp://cam/live?ch=1", "rtsp://cam/live?ch=1"},
		{"ffmpeg:https://host/a.m3u8", "https://host/a.m3u8"},
		{"ffmpeg:srt://host:9000", "srt://host:9000"},
		{"ffmpeg:clip.mp4", "clip.mp4"},
		{"ffmpeg:" + filepath.Join(dir, "clip.mp4"), filepath.Join(dir, "clip.mp4")},
		{"ffmpeg:other", "rtsp://" + testAddr + "/other?video&audio"},
		{"ffmpeg:other#audio=pcma", "rtsp://" + testAddr + "/other?audio"},
		{"ffmpeg:anullsrc#input=-f lavfi -i {input}", "anullsrc"},
	} {
		got, err := open(t, k, "me", tt.raw).resolve(testAddr)
		if err != nil || got.Input != tt.input {
			t.Errorf("%s: input %q, %v; want %q", tt.raw, got.Input, err, tt.input)
		}
	}
	for _, raw := range []string{"ffmpeg:nosuch", "ffmpeg:/no/such/file.mp4", "ffmpeg:user:s3cret@host/x"} {
		_, err := open(t, k, "me", raw).resolve(testAddr)
		if err == nil || !strings.Contains(err.Error(), "neither a URL, an existing file, nor a stream") || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: %v", raw, err)
		}
	}
}

func TestRunWithoutServer(t *testing.T) {
	t.Parallel()
	k := NewKind(Config{Private: (&fakePrivate{}).register, RTSPAddr: func() string { return "" }})
	err := open(t, k, "s", "ffmpeg:rtsp://cam/x").Run(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "rtsp.listen") {
		t.Fatalf("Run without an RTSP server: %v", err)
	}
}

// fakeFFmpeg writes a shell script standing in for ffmpeg: it stores its
// arguments one a line in args.txt and then runs body.
func fakeFFmpeg(t *testing.T, body string) (bin, argsFile string) {
	t.Helper()
	dir := t.TempDir()
	bin = filepath.Join(dir, "ffmpeg")
	argsFile = filepath.Join(dir, "args.txt")
	script := "#!/bin/sh\nprintf '%s\\n' \"$@\" > '" + argsFile + "'\n" + body + "\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, argsFile
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var startedRE = regexp.MustCompile(`msg="ffmpeg started".* pid=(\d+)`)

func startedPID(logs string) int {
	m := startedRE.FindStringSubmatch(logs)
	if m == nil {
		return 0
	}
	pid, _ := strconv.Atoi(m[1])
	return pid
}

func TestRunFails(t *testing.T) {
	t.Parallel()
	bin, argsFile := fakeFFmpeg(t, "echo 'rtsp://u:pw@cam/x: Connection refused' >&2; exit 1")
	var logs syncBuffer
	priv := &fakePrivate{}
	k := NewKind(Config{
		Runner:   &ffmpeg.Runner{Bin: bin, Log: slog.New(slog.NewTextHandler(&logs, nil))},
		Private:  priv.register,
		RTSPAddr: func() string { return testAddr },
	})
	// $(…) and spaces reach the program as they are: no shell between
	src := open(t, k, "s", "ffmpeg:rtsp://u:pw@cam/x#raw=-metadata 'title=$(touch /tmp/x) ;'")
	err := src.Run(context.Background(), nil)
	var ee *ffmpeg.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(err.Error(), "rtsp://u:***@cam/x: Connection refused") || strings.Contains(err.Error(), "pw") {
		t.Fatalf("Run = %v, want the exit status and the masked stderr line", err)
	}
	if priv.inUse() != 0 {
		t.Error("the private path was not released")
	}
	raw, err := os.ReadFile(argsFile)
	if err != nil {
		t.Fatal(err)
	}
	args := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	if !slices.Contains(args, "title=$(touch /tmp/x) ;") || args[len(args)-1] != "rtsp://"+testAddr+"/_private/p1" {
		t.Errorf("ffmpeg got %q", args)
	}
	l := logs.String()
	if startedPID(l) == 0 || !strings.Contains(l, "level=WARN") || !strings.Contains(l, "Connection refused") || strings.Contains(l, "pw@") {
		t.Errorf("log:\n%s", l)
	}

	// status 0 is the end of the input: an error too, so that the stream
	// starts it again for readers still there
	bin, _ = fakeFFmpeg(t, "exit 0")
	k = NewKind(Config{Runner: &ffmpeg.Runner{Bin: bin}, Private: priv.register, RTSPAddr: func() string { return testAddr }})
	if err := open(t, k, "s", "ffmpeg:rtsp://cam/x").Run(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "end of its input") {
		t.Errorf("Run after status 0 = %v", err)
	}
}

// TestRunStops: when ctx ends Run returns nil, and only once ffmpeg and
// what it started in its group are gone.
func TestRunStops(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	childFile := filepath.Join(dir, "child")
	bin, _ := fakeFFmpeg(t, "sleep 60 & echo $! > '"+childFile+"'; wait")
	var logs syncBuffer
	priv := &fakePrivate{}
	k := NewKind(Config{
		Runner:   &ffmpeg.Runner{Bin: bin},
		Private:  priv.register,
		RTSPAddr: func() string { return testAddr },
		Log:      slog.New(slog.NewTextHandler(&logs, nil)),
	})
	src := open(t, k, "s", "ffmpeg:rtsp://cam/x")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, nil) }()
	var pid, child int
	deadline := time.Now().Add(15 * time.Second) // a loaded 2-core machine forks slowly
	for pid == 0 || child == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no start: pid %d, child %d\n%s", pid, child, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
		pid = startedPID(logs.String())
		if b, err := os.ReadFile(childFile); err == nil && bytes.HasSuffix(b, []byte("\n")) {
			child, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
	}
	if priv.inUse() != 1 {
		t.Errorf("%d private paths in use while running, want 1", priv.inUse())
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after cancel = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5 s of cancel")
	}
	if !gone(pid) {
		t.Errorf("ffmpeg (pid %d) still there after Run returned", pid)
	}
	// the sleep was SIGKILLed with the group; as an orphan it may wait
	// for a reaper a moment, or for ever as a zombie on this machine
	deadline = time.Now().Add(2 * time.Second)
	for !gone(child) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !gone(child) {
		t.Errorf("ffmpeg's child (pid %d) survived", child)
	}
	if priv.inUse() != 0 {
		t.Error("the private path was not released")
	}
}

// gone reports whether pid has ended: no such process, or a zombie (this
// machine's init may never reap an orphan).
func gone(pid int) bool {
	if errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
		return true
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return errors.Is(err, os.ErrNotExist)
	}
	// the state follows the parenthesized command name, which may hold spaces
	i := bytes.LastIndexByte(b, ')')
	return i > 0 && i+2 < len(b) && b[i+2] == 'Z'
}
