package ffmpeg

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// leadArgs come before the global template: ffmpeg must not read commands
// from stdin, nor fill stderr with progress lines that would push the
// error out of the kept tail. A -v in the global template wins (ffmpeg
// takes the last one).
func leadArgs() []string { return []string{"-nostdin", "-nostats", "-v", "error"} }

// AudioArgs returns ffmpeg arguments that play spec's input in real time
// and write it to stdout as raw G.711 for a backchannel of codec "PCMU" or
// "PCMA" (8 kHz mono), ready for G711RTP. The spec may say #audio=auto (or
// nothing), or name that codec (pcmu, pcmu/8000, pcma, pcma/8000). The
// codec arguments are fixed, not templates: the packetizer needs exactly
// this format. Files are read with -re by the "file" template; other
// inputs are live, or are paced by G711RTP's backpressure.
func (r *Runner) AudioArgs(spec Spec, codec string) ([]string, error) {
	var enc, format string
	switch strings.ToUpper(codec) {
	case "PCMU":
		enc, format = "pcm_mulaw", "mulaw"
	case "PCMA":
		enc, format = "pcm_alaw", "alaw"
	default:
		return nil, fmt.Errorf("ffmpeg: a backchannel codec must be PCMU or PCMA, not %q", codec)
	}
	if len(spec.Video) > 0 {
		return nil, errors.New("ffmpeg: #video has no place in backchannel audio")
	}
	switch {
	case len(spec.Audio) > 1:
		return nil, errors.New("ffmpeg: backchannel audio takes one #audio")
	case len(spec.Audio) == 1:
		a := spec.Audio[0]
		want := strings.ToLower(codec)
		if a != "auto" && a != want && a != want+"/8000" {
			return nil, fmt.Errorf("ffmpeg: the backchannel takes %s at 8000 Hz; #audio=%s does not fit (use #audio=auto or #audio=%s)", strings.ToUpper(codec), a, want)
		}
	}
	args, err := r.head(spec, "audio")
	if err != nil {
		return nil, err
	}
	// -flush_packets 1: hand every packet to the pipe at once, not when
	// ffmpeg's buffer fills, so the packetizer's clock sees real time.
	return append(args, "-vn", "-sn", "-dn",
		"-c:a", enc, "-ar:a", "8000", "-ac:a", "1",
		"-flush_packets", "1", "-f", format, "pipe:1"), nil
}

// SourceArgs returns ffmpeg arguments for an ffmpeg: stream source that
// pushes its result to output (an RTSP URL of our own server) with the
// "output" template. #video and #audio name templates or "copy"; when
// either repeats, each maps the first input stream of its kind again, so
// one input gives several encodings. With neither, all is copied. A stream
// name as input must first be made a URL by the caller (Spec.Input =
// "rtsp://127.0.0.1:PORT/NAME"): only the caller knows the streams.
func (r *Runner) SourceArgs(spec Spec, output string) ([]string, error) {
	media := "video+audio"
	switch {
	case len(spec.Video) > 0 && len(spec.Audio) == 0:
		media = "video"
	case len(spec.Audio) > 0 && len(spec.Video) == 0:
		media = "audio"
	}
	args, err := r.head(spec, media)
	if err != nil {
		return nil, err
	}
	multi := len(spec.Video) > 1 || len(spec.Audio) > 1
	for _, kind := range []string{"v", "a"} {
		names := spec.Video
		if kind == "a" {
			names = spec.Audio
		}
		for i, name := range names {
			c, err := r.codecArgs(kind, name)
			if err != nil {
				return nil, err
			}
			if multi {
				c = numberStream(c, kind, i)
				args = append(args, "-map", "0:"+kind+":0?")
			}
			args = append(args, c...)
		}
	}
	switch {
	case len(spec.Video) == 0 && len(spec.Audio) == 0:
		args = append(args, "-c", "copy")
	case len(spec.Video) == 0:
		args = append(args, "-vn")
	case len(spec.Audio) == 0:
		args = append(args, "-an")
	}
	out, _, err := r.Templates.args("output")
	if err != nil {
		return nil, err
	}
	return append(args, replaceAll(out, "{output}", output)...), nil
}

// head is what every command starts with: lead, global, input, #raw.
func (r *Runner) head(spec Spec, media string) ([]string, error) {
	args := leadArgs()
	global, _, err := r.Templates.args("global")
	if err != nil {
		return nil, err
	}
	args = append(args, global...)
	in, err := r.inputArgs(spec, media)
	if err != nil {
		return nil, err
	}
	args = append(args, in...)
	for _, raw := range spec.Raw {
		a, ok, err := r.Templates.args(raw)
		if !ok {
			a, err = SplitArgs(raw)
		}
		if err != nil {
			return nil, fmt.Errorf("ffmpeg: #raw: %w", err)
		}
		args = append(args, a...)
	}
	return args, nil
}

// inputArgs picks and fills the input template. media ("video", "audio",
// "video+audio") keeps an RTSP input from setting up tracks we drop.
func (r *Runner) inputArgs(spec Spec, media string) ([]string, error) {
	scheme := spec.Scheme()
	tmpl := spec.InputTemplate
	switch {
	case tmpl != "":
		if v, ok := r.Templates.Lookup(tmpl); ok {
			tmpl = v
		} else if !strings.Contains(tmpl, "{input}") {
			return nil, fmt.Errorf("ffmpeg: #input=%s is neither a template nor a raw input holding {input}", showName(tmpl))
		}
	case scheme == "":
		tmpl, _ = r.Templates.Lookup("file")
	case scheme == "rtsp" || scheme == "rtsps":
		tmpl, _ = r.Templates.Lookup("rtsp")
	case scheme == "http" || scheme == "https" || scheme == "rtmp" || scheme == "rtmps":
		tmpl, _ = r.Templates.Lookup("http")
	default:
		tmpl = "-i {input}"
	}
	args, err := SplitArgs(tmpl)
	if err != nil {
		return nil, fmt.Errorf("ffmpeg: input template: %w", err)
	}
	if !slices.ContainsFunc(args, func(a string) bool { return strings.Contains(a, "{input}") }) {
		return nil, errors.New("ffmpeg: the input template has no {input}")
	}
	if slices.ContainsFunc(args, func(a string) bool { return strings.Contains(a, "{timeout}") }) {
		v, _ := r.Templates.Lookup("timeout")
		sec, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || sec < 1 || sec > 86400 {
			return nil, fmt.Errorf("ffmpeg: timeout: want whole seconds from 1 to 86400, got %q", v)
		}
		// ffmpeg's -timeout is in microseconds.
		args = replaceAll(args, "{timeout}", strconv.Itoa(sec)+"000000")
	}
	args = replaceAll(args, "{input}", spec.Input)
	if scheme == "rtsp" || scheme == "rtsps" {
		args = append([]string{"-allowed_media_types", media}, args...)
	}
	return args, nil
}

// codecArgs returns the arguments of #video=name (kind "v") or #audio=name
// (kind "a").
func (r *Runner) codecArgs(kind, name string) ([]string, error) {
	what := map[string]string{"v": "video", "a": "audio"}[kind]
	switch name {
	case "copy":
		return []string{"-c:" + kind, "copy"}, nil
	case "auto":
		return nil, fmt.Errorf("ffmpeg: #%s=auto is only for backchannel audio; name a codec, e.g. #%s=copy", what, what)
	}
	a, ok, err := r.Templates.args(name)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("ffmpeg: #%s=%s: no such template (built in: copy, h264, h265, mjpeg, opus, aac, pcmu, pcma, …; add one under ffmpeg: in the config)", what, name)
	}
	return a, nil
}

// numberStream turns per-kind options ("-c:v", "-profile:v") into options
// of output stream i of that kind ("-c:v:1"), for several encodings.
func numberStream(args []string, kind string, i int) []string {
	out := slices.Clone(args)
	for j, a := range out {
		if strings.HasPrefix(a, "-") && strings.HasSuffix(a, ":"+kind) {
			out[j] = a + ":" + strconv.Itoa(i)
		}
	}
	return out
}

// showName quotes a template name for an error when it is a plain word.
func showName(s string) string {
	if codecToken(s) {
		return s
	}
	return "(a value not shown here)"
}
