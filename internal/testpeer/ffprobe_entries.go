package testpeer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"time"
)

// ProbePacket is one packet as `ffprobe -show_packets` reports it.
type ProbePacket struct {
	StreamIndex int     `json:"stream_index"`
	CodecType   string  `json:"codec_type"`
	PTS         float64 // seconds, from pts_time
	PTSTime     string  `json:"pts_time"`
}

// ProbeFrame is one decoded frame as `ffprobe -show_frames` reports it.
type ProbeFrame struct {
	MediaType string `json:"media_type"`
	Width     int    `json:"width"`
	Height    int    `json:"height"`
}

// ProbePackets reads SECONDS of url with ffprobe and returns every packet
// with its presentation time: what a player would place each frame at.
func ProbePackets(ctx context.Context, url, transport string, seconds float64) ([]ProbePacket, error) {
	var out struct {
		Packets []ProbePacket `json:"packets"`
	}
	if err := probeEntries(ctx, url, transport, seconds, "-show_entries", "packet=stream_index,codec_type,pts_time", &out); err != nil {
		return nil, err
	}
	for i := range out.Packets {
		out.Packets[i].PTS, _ = strconv.ParseFloat(out.Packets[i].PTSTime, 64)
	}
	return out.Packets, nil
}

// ProbeFrames decodes SECONDS of url with ffprobe and returns every frame.
func ProbeFrames(ctx context.Context, url, transport string, seconds float64) ([]ProbeFrame, error) {
	var out struct {
		Frames []ProbeFrame `json:"frames"`
	}
	err := probeEntries(ctx, url, transport, seconds, "-show_entries", "frame=media_type,width,height", &out)
	return out.Frames, err
}

func probeEntries(ctx context.Context, url, transport string, seconds float64, what, entries string, into any) error {
	ctx, cancel := withDefaultTimeout(ctx, time.Duration(seconds*float64(time.Second))+decodeSlack)
	defer cancel()
	args := []string{"-hide_banner", "-v", "error"}
	if transport != "" {
		args = append(args, "-rtsp_transport", transport)
	}
	args = append(args, "-read_intervals", "%+"+strconv.FormatFloat(seconds, 'f', -1, 64),
		what, entries, "-of", "json", url)
	cmd := exec.CommandContext(ctx, "ffprobe", args...)
	cmd.SysProcAttr = childSysProcAttr()
	cmd.WaitDelay = 2 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ffprobe %s: %w: %s", url, err, stderr.String())
	}
	if err := json.Unmarshal(stdout.Bytes(), into); err != nil {
		return fmt.Errorf("ffprobe %s: parse output: %w", url, err)
	}
	return nil
}
