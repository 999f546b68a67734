package testpeer

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/gorilla/websocket"
	"github.com/pion/rtp"

	"github.com/rtspgate/rtspgate/internal/source/rtsp/wsconn"
)

func TestWebsockifyEcho(t *testing.T) {
	t.Parallel()
	u := StartWebsockify(t, WebsockifyOptions{Target: echoServer(t)})
	if !strings.HasPrefix(u, "ws://127.0.0.1:") || !strings.HasSuffix(u, "/") {
		t.Fatalf("URL %q, want ws://127.0.0.1:PORT/", u)
	}
	c, err := wsconn.Dial(t.Context(), u, 5*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	websockifyRoundTrip(t, c, "OPTIONS rtsp://cam/ RTSP/1.0\r\nCSeq: 1\r\n\r\n")

	// without the "binary" subprotocol websockify refuses the upgrade
	d := websocket.Dialer{Subprotocols: []string{"rtsp.onvif.org"}}
	if ws, _, err := d.DialContext(t.Context(), u, nil); err == nil {
		ws.Close()
		t.Error("websockify took a client that does not offer binary")
	}
}

func TestWebsockifyBasicAuth(t *testing.T) {
	t.Parallel()
	const pass = "pw-7:x"
	u := StartWebsockify(t, WebsockifyOptions{Target: echoServer(t), User: "cam", Password: pass})
	withCreds := func(user, pass string) string {
		return strings.Replace(u, "ws://", "ws://"+user+":"+pass+"@", 1)
	}
	c, err := wsconn.Dial(t.Context(), withCreds("cam", "pw-7%3Ax"), 5*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	websockifyRoundTrip(t, c, "hello")
	c.Close()

	for _, bad := range []string{u, withCreds("cam", "wrong-"+pass)} {
		c, err := wsconn.Dial(t.Context(), bad, 5*time.Second, nil)
		if err == nil {
			c.Close()
			t.Fatalf("upgrade accepted with %s", strings.ReplaceAll(bad, pass, "***"))
		}
		var ue *wsconn.UpgradeError
		if !errors.As(err, &ue) || ue.StatusCode != http.StatusUnauthorized || strings.Contains(err.Error(), pass) {
			t.Errorf("error %q, want a 401 refusal without the password", strings.ReplaceAll(err.Error(), pass, "<PASSWORD>"))
		}
	}
}

func websockifyRoundTrip(t *testing.T, c net.Conn, s string) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, len(s))
	if _, err := io.ReadFull(c, b); err != nil || string(b) != s {
		t.Errorf("echo %q, %v; want %q", b, err, s)
	}
}

// TestWebsockifyCamera: gortsplib's client plays the GStreamer camera through
// websockify with wsconn as its dialer.
func TestWebsockifyCamera(t *testing.T) {
	t.Parallel()
	cam := StartCamera(t, CameraOptions{})
	host := strings.TrimPrefix(strings.TrimSuffix(cam.URL, "/cam"), "rtsp://")
	ws := StartWebsockify(t, WebsockifyOptions{Target: host})

	tcp := gortsplib.ProtocolTCP
	c := &gortsplib.Client{
		Scheme:   "rtsp",
		Host:     host,
		Protocol: &tcp,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return wsconn.Dial(ctx, ws, 5*time.Second, nil)
		},
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	u, err := base.ParseURL(cam.URL)
	if err != nil {
		t.Fatal(err)
	}
	desc, _, err := c.Describe(u)
	if err != nil {
		t.Fatalf("DESCRIBE: %v", err)
	}
	if err := c.SetupAll(desc.BaseURL, desc.Medias); err != nil {
		t.Fatalf("SETUP: %v", err)
	}
	got := make(chan description.MediaType, 64)
	c.OnPacketRTPAny(func(m *description.Media, _ format.Format, _ *rtp.Packet) {
		select {
		case got <- m.Type:
		default:
		}
	})
	if _, err := c.Play(nil); err != nil {
		t.Fatalf("PLAY: %v", err)
	}
	seen := map[description.MediaType]bool{}
	timeout := time.After(10 * time.Second)
	for len(seen) < 2 {
		select {
		case k := <-got:
			seen[k] = true
		case <-timeout:
			t.Fatalf("within 10 s of PLAY, packets of %v only; want video and audio", seen)
		}
	}
}
