package testpeer

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"slices"
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
// gst-launch-1.0 exits 0, which happens after FRAMES-1 decoded frames, or if
// its only errors came from rtspsrc's own shutdown after that (see
// teardownOnly). Other tracks are left unlinked. Without a deadline in ctx it
// gives up after 30 s.
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
	if err := cmd.Run(); err != nil && (ctx.Err() != nil || !teardownOnly(out.String())) {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", err, ctx.Err())
		}
		return fmt.Errorf("gst-launch-1.0 rtspsrc %s (%s, Debian packages gstreamer1.0-tools gstreamer1.0-plugins-good gstreamer1.0-libav): %w:\n%s",
			url, protocols, err, lastLines(strings.TrimSpace(out.String()), 30))
	}
	return nil
}

// teardownOnly reports whether gst-launch's output shows a pipeline that
// reached EOS and failed only while stopping, with rtspsrc's "Could not
// send message" (or "receive") errors. rtspsrc sends PAUSE from its own
// thread on the way from PLAYING to NULL; when its TEARDOWN has already
// closed the connection, that PAUSE fails and gst-launch exits 1 although
// every frame was decoded. An rtspsrc warning before the EOS (the server
// closed the connection, say) means an EOS that may have come early.
func teardownOnly(out string) bool {
	lines := strings.Split(out, "\n")
	eos := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, `Got EOS from element "pipeline0"`) })
	if eos < 0 {
		return false
	}
	stopping := slices.IndexFunc(lines[eos:], func(l string) bool { return strings.HasPrefix(l, "Setting pipeline to NULL") })
	if stopping < 0 {
		return false
	}
	stopping += eos
	errors := 0
	for i, l := range lines {
		if i < eos && strings.HasPrefix(l, "WARNING:") && strings.Contains(l, "GstRTSPSrc") {
			return false
		}
		if !strings.HasPrefix(l, "ERROR:") {
			continue
		}
		errors++
		detail := strings.Join(lines[i:min(i+4, len(lines))], "\n")
		if i < stopping || !strings.Contains(l, "GstRTSPSrc") ||
			!strings.Contains(detail, "Could not send message") && !strings.Contains(detail, "Could not receive message") {
			return false
		}
	}
	return errors > 0
}
