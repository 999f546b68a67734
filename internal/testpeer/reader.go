package testpeer

import (
	"os/exec"
	"testing"
)

// StartReader runs `ffmpeg -rtsp_transport tcp -i URL -f null -` in the
// background: a reader that stays connected until the test ends or Stop.
// Done() tells whether it was disconnected.
func StartReader(t testing.TB, url string) *Process {
	t.Helper()
	cmd := exec.Command("ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-rtsp_transport", "tcp", "-i", url, "-f", "null", "-")
	p, err := startProcess(cmd, nil, nil)
	if err != nil {
		t.Fatalf("reader: %v", err)
	}
	t.Cleanup(p.Stop)
	return p
}
