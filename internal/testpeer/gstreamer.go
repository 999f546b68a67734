package testpeer

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

const gstDecodeTimeout = 30 * time.Second

// GstDecode reads the H.264 track of url with GStreamer, a second client stack
// beside ffmpeg:
//
//	gst-launch-1.0 -e rtspsrc location=URL protocols=PROTOCOLS latency=200 !
//	  rtph264depay ! h264parse ! avdec_h264 ! identity eos-after=FRAMES ! fakesink
//
// protocols is "tcp" or "udp" ("udp" has no TCP fallback). It returns nil if
// gst-launch-1.0 exits 0, which happens after FRAMES-1 decoded frames. Other
// tracks are left unlinked. Without a deadline in ctx it gives up after 30 s.
func GstDecode(ctx context.Context, url, protocols string, frames int) error {
	ctx, cancel := withDefaultTimeout(ctx, gstDecodeTimeout)
	defer cancel()
	if frames < 2 {
		frames = 2
	}
	cmd := exec.CommandContext(ctx, "gst-launch-1.0", "-e",
		"rtspsrc", "location="+url, "protocols="+protocols, "latency=200",
		"!", "rtph264depay", "!", "h264parse", "!", "avdec_h264",
		"!", "identity", "eos-after="+strconv.Itoa(frames),
		"!", "fakesink")
	cmd.SysProcAttr = childSysProcAttr()
	cmd.WaitDelay = 2 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", err, ctx.Err())
		}
		return fmt.Errorf("gst-launch-1.0 rtspsrc %s (%s, Debian packages gstreamer1.0-tools gstreamer1.0-plugins-good gstreamer1.0-libav): %w:\n%s",
			url, protocols, err, lastLines(strings.TrimSpace(out.String()), 30))
	}
	return nil
}
