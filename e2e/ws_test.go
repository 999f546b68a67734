package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rtspgate/rtspgate/internal/testpeer"
)

// TestCameraOverWebSocket: the GStreamer camera is reachable only
// through websockify, as cameras that speak RTSP inside a WebSocket are;
// rtspgate pulls it with #transport=ws://…, with and without Basic
// credentials on the upgrade, and refuses the stream (503) when they are
// wrong, without the password in its log. Each case has its own camera:
// sources that differ only in '#' options would share one camera session.
func TestCameraOverWebSocket(t *testing.T) {
	t.Parallel()
	const user, pass = "wsuser", "ws-Pa55-s3cret"
	withCreds := func(wsURL, user, pass string) string {
		return strings.Replace(wsURL, "ws://", "ws://"+user+":"+pass+"@", 1)
	}
	for _, tc := range []struct {
		name     string
		auth     bool   // websockify wants Basic credentials
		userInfo string // put into the ws URL of the source
		refused  bool
	}{
		{name: "open"},
		{name: "basic", auth: true, userInfo: user + ":" + pass},
		{name: "wrong-password", auth: true, userInfo: user + ":wrong-" + pass, refused: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cam := testpeer.StartCamera(t, testpeer.CameraOptions{Path: "/cam", Audio: "pcma"})
			opt := testpeer.WebsockifyOptions{Target: fmt.Sprintf("127.0.0.1:%d", cam.Port)}
			if tc.auth {
				opt.User, opt.Password = user, pass
			}
			ws := testpeer.StartWebsockify(t, opt)
			if tc.userInfo != "" {
				u, p, _ := strings.Cut(tc.userInfo, ":")
				ws = withCreds(ws, u, p)
			}
			gw := startGateway(t, "streams:\n  cam: "+cam.URL+"#transport="+ws+"\n", gatewayOpts{})
			url := gw.URL + "cam"
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()

			if tc.refused {
				if _, err := testpeer.FFprobe(ctx, url, "tcp"); err == nil || !strings.Contains(err.Error(), "503") {
					t.Errorf("stream with a wrong WebSocket password: %v, want a 503 refusal", err)
				}
				gw.logs.waitFor(t, "the failed source", 5*time.Second, func(s string) bool { return strings.Contains(s, "source failed") })
				logs := gw.logs.String()
				if strings.Contains(logs, pass) {
					t.Fatalf("the WebSocket password appears in the log:\n%s", logs)
				}
				if !strings.Contains(logs, "401") {
					t.Errorf("the log does not say the upgrade was refused with 401:\n%s", logs)
				}
				return
			}

			streams, err := testpeer.FFprobe(ctx, url, "tcp")
			if err != nil {
				t.Fatal(err)
			}
			if got := codecsOf(streams); got != "video:h264,audio:pcm_alaw" {
				t.Fatalf("ffprobe through rtspgate: %s, want video:h264,audio:pcm_alaw", got)
			}
			frames, errLines, err := testpeer.DecodeCheck(ctx, url, "tcp", 2)
			if err != nil {
				t.Fatalf("ffmpeg: %v %v", err, errLines)
			}
			if len(errLines) > 0 {
				t.Errorf("decode errors: %s", strings.Join(errLines, "\n"))
			}
			// 2 s at 25 fps; video starts at the next keyframe, up to 1 s in
			if frames < 20 {
				t.Errorf("decoded %d frames in 2 s, want >= 20", frames)
			}
			if tc.auth && strings.Contains(gw.logs.String(), pass) {
				t.Errorf("the WebSocket password appears in the log:\n%s", gw.logs.String())
			}
		})
	}
}
