package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/rtspgate/rtspgate/internal/testpeer"
)

// TestSourcesConnectOnlyWhenNeeded: a stream of two cameras, the first
// without audio. A video reader opens a session to the first camera only;
// an audio reader, once the first camera's tracks are known, to the second
// only; with the first camera gone, a video reader is served by the second.
func TestSourcesConnectOnlyWhenNeeded(t *testing.T) {
	t.Parallel()
	front := testpeer.StartCamera(t, testpeer.CameraOptions{Path: "/front", Audio: "none", SessionLog: true, RequireLog: true})
	back := testpeer.StartCamera(t, testpeer.CameraOptions{Path: "/back", Audio: "pcma", SessionLog: true, RequireLog: true})
	yml := "streams:\n  yard: [" + front.URL + ", " + back.URL + "]\n"
	gw := startGateway(t, yml, gatewayOpts{grace: 500 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	describes := func(c *testpeer.Camera) int { return c.DescribesWithRequire() + c.DescribesWithoutRequire() }
	probe := func(query, want string) {
		t.Helper()
		streams, err := testpeer.FFprobe(ctx, gw.URL+"yard?"+query, "tcp")
		if err != nil {
			t.Fatalf("?%s: %v", query, err)
		}
		if got := codecsOf(streams); got != want {
			t.Fatalf("?%s: %s, want %s", query, got, want)
		}
	}
	// a camera's session ends a grace time after the last reader
	idle := func(c *testpeer.Camera) {
		t.Helper()
		waitCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := c.WaitSessions(waitCtx, 0); err != nil {
			t.Fatal(err)
		}
	}

	probe("video", "video:h264")
	if front.MaxSessions() != 1 || back.MaxSessions() != 0 || describes(back) != 0 {
		t.Fatalf("video reader: sessions front %d back %d, DESCRIBEs to back %d; want 1 0 0",
			front.MaxSessions(), back.MaxSessions(), describes(back))
	}
	idle(front)

	// the first camera is known to have no audio: it is not asked again
	before := describes(front)
	probe("audio", "audio:pcm_alaw")
	if describes(front) != before || back.MaxSessions() != 1 {
		t.Fatalf("audio reader: DESCRIBEs to front %d (was %d), sessions back %d; want front not asked, one session to back",
			describes(front), before, back.MaxSessions())
	}
	idle(back)

	// the first camera is down: the second one's video serves
	front.Stop()
	before = describes(back)
	probe("video", "video:h264")
	if describes(back) == before {
		t.Fatal("video reader with the first camera down: the second camera was not asked")
	}
}
