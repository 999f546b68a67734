package ffmpeg

import (
	"fmt"
	"strings"
)

// Templates maps template names to ffmpeg argument strings. It holds
// overrides only: a name it lacks falls back to DefaultTemplates, so the
// zero value means the defaults, and the config's ffmpeg: section (every
// key but bin) can be used as it is: Templates(cfg.FFmpeg.Templates). An
// override may be empty, e.g. global: "" drops -hide_banner.
//
// Placeholders, replaced after splitting so that a value never becomes
// more than one argument: {input} (input templates), {output} (output) and
// {timeout} (the "timeout" template, seconds, given to ffmpeg in µs).
type Templates map[string]string

// DefaultTemplates returns a fresh copy of the built-in templates: inputs
// (file, http, rtsp, rtsp/udp), the output, codecs, and global/timeout.
func DefaultTemplates() map[string]string {
	return map[string]string{
		"global":  "-hide_banner",
		"timeout": "5",

		// inputs; file reads in real time (-re) as a live source would
		"file":     "-re -i {input}",
		"http":     "-fflags nobuffer -flags low_delay -i {input}",
		"rtsp":     "-fflags nobuffer -flags low_delay -timeout {timeout} -user_agent rtspgate/ffmpeg -rtsp_transport tcp -i {input}",
		"rtsp/udp": "-fflags nobuffer -flags low_delay -timeout {timeout} -user_agent rtspgate/ffmpeg -i {input}",

		// output of ffmpeg: sources, pushed to our own RTSP server
		"output": "-user_agent rtspgate/ffmpeg -rtsp_transport tcp -f rtsp {output}",

		// video; superfast, not ultrafast: ultrafast cannot keep profile high
		"h264":        "-c:v libx264 -g 50 -profile:v high -level:v 4.1 -preset:v superfast -tune:v zerolatency -pix_fmt:v yuv420p",
		"h265":        "-c:v libx265 -g 50 -profile:v main -x265-params level=5.1:high-tier=0 -preset:v superfast -tune:v zerolatency -pix_fmt:v yuv420p",
		"mjpeg":       "-c:v mjpeg",
		"raw":         "-c:v rawvideo",
		"raw/gray8":   "-c:v rawvideo -pix_fmt:v gray8",
		"raw/yuv420p": "-c:v rawvideo -pix_fmt:v yuv420p",
		"raw/yuv422p": "-c:v rawvideo -pix_fmt:v yuv422p",
		"raw/yuv444p": "-c:v rawvideo -pix_fmt:v yuv444p",

		// hardware encoders on Linux; B-frames off, as RTSP readers expect
		"h264/vaapi":   "-c:v h264_vaapi -g 50 -bf 0 -profile:v high -level:v 4.1 -sei:v 0",
		"h265/vaapi":   "-c:v hevc_vaapi -g 50 -bf 0 -profile:v main -level:v 5.1 -sei:v 0",
		"mjpeg/vaapi":  "-c:v mjpeg_vaapi",
		"h264/v4l2m2m": "-c:v h264_v4l2m2m -g 50 -bf 0",
		"h265/v4l2m2m": "-c:v hevc_v4l2m2m -g 50 -bf 0",
		"h264/rkmpp":   "-c:v h264_rkmpp -g 50 -bf 0 -profile:v high -level:v 4.1",
		"h265/rkmpp":   "-c:v hevc_rkmpp -g 50 -bf 0 -profile:v main -level:v 5.1",
		"mjpeg/rkmpp":  "-c:v mjpeg_rkmpp",
		"h264/cuda":    "-c:v h264_nvenc -g 50 -bf 0 -profile:v high -level:v auto -preset:v p2 -tune:v ll",
		"h265/cuda":    "-c:v hevc_nvenc -g 50 -bf 0 -profile:v main -level:v auto",

		// audio; -min_comp 0 makes opus timestamps steady for WebRTC readers
		"opus":       "-c:a libopus -application:a lowdelay -min_comp 0",
		"opus/16000": "-c:a libopus -application:a lowdelay -min_comp 0 -ar:a 16000 -ac:a 1",
		"pcmu":       "-c:a pcm_mulaw -ar:a 8000 -ac:a 1",
		"pcmu/8000":  "-c:a pcm_mulaw -ar:a 8000 -ac:a 1",
		"pcmu/16000": "-c:a pcm_mulaw -ar:a 16000 -ac:a 1",
		"pcmu/48000": "-c:a pcm_mulaw -ar:a 48000 -ac:a 1",
		"pcma":       "-c:a pcm_alaw -ar:a 8000 -ac:a 1",
		"pcma/8000":  "-c:a pcm_alaw -ar:a 8000 -ac:a 1",
		"pcma/16000": "-c:a pcm_alaw -ar:a 16000 -ac:a 1",
		"pcma/48000": "-c:a pcm_alaw -ar:a 48000 -ac:a 1",
		"aac":        "-c:a aac",
		"aac/16000":  "-c:a aac -ar:a 16000 -ac:a 1",
		"mp3":        "-c:a libmp3lame -q:a 8",
		"pcm":        "-c:a pcm_s16be -ar:a 8000 -ac:a 1",
		"pcm/8000":   "-c:a pcm_s16be -ar:a 8000 -ac:a 1",
		"pcm/16000":  "-c:a pcm_s16be -ar:a 16000 -ac:a 1",
		"pcm/48000":  "-c:a pcm_s16be -ar:a 48000 -ac:a 1",
		"pcml":       "-c:a pcm_s16le -ar:a 8000 -ac:a 1",
		"pcml/8000":  "-c:a pcm_s16le -ar:a 8000 -ac:a 1",
		"pcml/16000": "-c:a pcm_s16le -ar:a 16000 -ac:a 1",
		"pcml/44100": "-c:a pcm_s16le -ar:a 44100 -ac:a 1",
	}
}

// Lookup returns the template called name: the override if there is one,
// else the built-in one.
func (t Templates) Lookup(name string) (string, bool) {
	if v, ok := t[name]; ok {
		return v, true
	}
	v, ok := DefaultTemplates()[name]
	return v, ok
}

// args looks up and splits the template called name.
func (t Templates) args(name string) ([]string, bool, error) {
	v, ok := t.Lookup(name)
	if !ok {
		return nil, false, nil
	}
	a, err := SplitArgs(v)
	if err != nil {
		return nil, true, fmt.Errorf("ffmpeg template %q: %w", name, err)
	}
	return a, true, nil
}

// SplitArgs splits a template into arguments at white space. '…' and "…"
// group (the quotes are dropped; an empty pair is an empty argument); inside "…" a
// backslash escapes '"' and '\'; any other backslash is kept, since ffmpeg
// filter strings use it. Nothing else is interpreted: no shell ever runs.
func SplitArgs(s string) ([]string, error) {
	var args []string
	var cur strings.Builder
	inArg := false
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote == '\'':
			if c == '\'' {
				quote = 0
			} else {
				cur.WriteByte(c)
			}
		case quote == '"':
			switch {
			case c == '"':
				quote = 0
			case c == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\'):
				i++
				cur.WriteByte(s[i])
			default:
				cur.WriteByte(c)
			}
		case c == '\'' || c == '"':
			quote = c
			inArg = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		default:
			cur.WriteByte(c)
			inArg = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("a %c quote is not closed", quote)
	}
	if inArg {
		args = append(args, cur.String())
	}
	return args, nil
}

// replaceAll replaces a placeholder in every argument.
func replaceAll(args []string, placeholder, value string) []string {
	for i, a := range args {
		args[i] = strings.ReplaceAll(a, placeholder, value)
	}
	return args
}
