package ffmpegsrc

import (
	"context"
	"log/slog"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/rtspgate/rtspgate/internal/ffmpeg"
	"github.com/rtspgate/rtspgate/internal/rtspserver"
	"github.com/rtspgate/rtspgate/internal/stream"
	"github.com/rtspgate/rtspgate/internal/testpeer"
)

// TestThroughOurServer runs the real thing without internal/app: a
// registry, our RTSP server, and ffmpeg pushing to a private path of it.
func TestThroughOurServer(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("no ffmpeg in PATH")
	}
	clip := testpeer.TestClip(t, 4)
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var reg *stream.Registry
	var srv *rtspserver.Server
	kind := NewKind(Config{
		Runner:       &ffmpeg.Runner{Log: log},
		Private:      func(pub stream.Publisher) (string, func()) { return reg.Private(pub) },
		RTSPAddr:     func() string { return srv.Addr().String() },
		StreamExists: func(name string) bool { return reg.Get(name) != nil },
	})
	reg = stream.NewRegistry(stream.Options{
		Logger: log, Openers: map[string]stream.Opener{"ffmpeg": kind.Open},
		Grace: 300 * time.Millisecond, MinBackoff: 200 * time.Millisecond, MaxBackoff: time.Second,
	})
	t.Cleanup(reg.Close)
	for name, raw := range map[string]string{"copy": "ffmpeg:" + clip, "pcma": "ffmpeg:copy#video=copy#audio=pcma"} {
		if _, err := reg.Add(name, []stream.SourceSpec{sourceSpec(name, raw)}); err != nil {
			t.Fatal(err)
		}
	}
	srv = rtspserver.New(rtspserver.Config{Listen: "127.0.0.1:0"}, reg, log)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	defer func() {
		if t.Failed() {
			t.Logf("log:\n%s", logs.String())
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for name, want := range map[string]string{"copy": "video:h264,audio:aac", "pcma": "video:h264,audio:pcm_alaw"} {
		streams, err := testpeer.FFprobe(ctx, "rtsp://"+srv.Addr().String()+"/"+name, "tcp")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var got []string
		for _, s := range streams {
			got = append(got, s.CodecType+":"+s.CodecName)
		}
		if strings.Join(got, ",") != want {
			t.Errorf("%s: %v, want %s", name, got, want)
		}
	}
	// a private path is nobody's stream: readers get 404
	if _, err := testpeer.FFprobe(ctx, "rtsp://"+srv.Addr().String()+"/"+stream.PrivatePrefix+"0123", "tcp"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("reading a private path: %v, want 404", err)
	}
}
