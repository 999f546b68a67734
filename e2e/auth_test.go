package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rtspgate/rtspgate/internal/testpeer"
)

// TestAuthLoopbackBypassAndRemoteCredentials: with rtsp.username set, a
// loopback reader needs no credentials; a reader in another network
// namespace is refused without them and served with them, by Basic or
// Digest as ffprobe chooses.
func TestAuthLoopbackBypassAndRemoteCredentials(t *testing.T) {
	t.Parallel()
	ns := testpeer.NetNS(t)
	gw := startGateway(t, "rtsp:\n  username: admin\n  password: \"p@ss word\"\n", gatewayOpts{demo: true, listen: "0.0.0.0:0"})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	if _, err := testpeer.FFprobe(ctx, gw.URL+"demo", "tcp"); err != nil {
		t.Fatalf("loopback reader without credentials: %v", err)
	}

	remote := fmt.Sprintf("rtsp://%s:%d/demo", ns.HostIP(), gw.Port)
	probe := func(url string) (string, error) {
		cmd := ns.Command(ctx, "ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-show_entries", "stream=codec_name", "-of", "compact", url)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := probe(remote)
	if err == nil || !strings.Contains(out, "401") {
		t.Fatalf("remote reader without credentials: err=%v, want 401:\n%s", err, out)
	}
	out, err = probe(strings.Replace(remote, "rtsp://", "rtsp://admin:wrong@", 1))
	if err == nil || !strings.Contains(out, "401") {
		t.Fatalf("remote reader with a wrong password: err=%v, want 401:\n%s", err, out)
	}
	out, err = probe(strings.Replace(remote, "rtsp://", "rtsp://admin:p%40ss%20word@", 1))
	if err != nil || !strings.Contains(out, "codec_name=h264") {
		t.Fatalf("remote reader with credentials: %v\n%s", err, out)
	}
	if strings.Contains(gw.logs.String(), "p@ss word") {
		t.Fatal("the RTSP password appears in the log")
	}
}
