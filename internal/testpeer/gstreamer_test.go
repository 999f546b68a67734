package testpeer

import (
	"strings"
	"testing"
)

// rtspsrcStopRace is gst-launch-1.0's output (Debian's GStreamer) from a CI
// run where every frame was decoded and rtspsrc's PAUSE lost a race with its
// own TEARDOWN while the pipeline stopped.
const rtspsrcStopRace = `Progress: (request) Sent PLAY request
Redistribute latency...
Got EOS from element "pipeline0".
EOS received - stopping pipeline...
Execution ended after 0:00:12.671559530
Setting pipeline to NULL ...
ERROR: from element /GstPipeline:pipeline0/GstRTSPSrc:rtspsrc0: Could not write to resource.
Additional debug info:
../gst/rtsp/gstrtspsrc.c(6766): gst_rtspsrc_try_send (): /GstPipeline:pipeline0/GstRTSPSrc:rtspsrc0:
Could not send message. (Received end-of-file)
ERROR: from element /GstPipeline:pipeline0/GstRTSPSrc:rtspsrc0: Could not write to resource.
Additional debug info:
../gst/rtsp/gstrtspsrc.c(9240): gst_rtspsrc_pause (): /GstPipeline:pipeline0/GstRTSPSrc:rtspsrc0:
Could not send message. (Received end-of-file)
Freeing pipeline ...`

func TestTeardownOnly(t *testing.T) {
	if !teardownOnly(rtspsrcStopRace) {
		t.Error("errors only while stopping after EOS: not taken as a decode that ended well")
	}
	// the same errors before EOS: the stream broke
	early := strings.Replace(rtspsrcStopRace, "Got EOS from element \"pipeline0\".\n", "", 1)
	if teardownOnly(early) {
		t.Error("no EOS: taken as a decode that ended well")
	}
	// an EOS after rtspsrc warned (the server closed the connection) may
	// come before the frames asked for
	closed := strings.Replace(rtspsrcStopRace, "Got EOS", "WARNING: from element /GstPipeline:pipeline0/GstRTSPSrc:rtspsrc0: The server closed the connection.\nGot EOS", 1)
	if teardownOnly(closed) {
		t.Error("an EOS after rtspsrc's warning: taken as a decode that ended well")
	}
	// a decoder error while stopping is not rtspsrc's shutdown
	decoder := rtspsrcStopRace + "\nERROR: from element /GstPipeline:pipeline0/avdec_h264:avdec_h264-0: Internal data stream error.\nAdditional debug info:\nstreaming stopped, reason error"
	if teardownOnly(decoder) {
		t.Error("a decoder error while stopping: taken as a decode that ended well")
	}
	// an error before the pipeline stopped
	before := strings.Replace(rtspsrcStopRace, "Redistribute latency...\n",
		"ERROR: from element /GstPipeline:pipeline0/GstRTSPSrc:rtspsrc0: Could not write to resource.\nAdditional debug info:\nCould not send message.\n", 1)
	if teardownOnly(before) {
		t.Error("an rtspsrc error while playing: taken as a decode that ended well")
	}
}
