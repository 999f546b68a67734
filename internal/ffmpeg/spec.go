package ffmpeg

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/rtspgate/rtspgate/internal/redact"
)

// Spec is a parsed "ffmpeg:INPUT#opt=val#…" source.
type Spec struct {
	// Input is everything between "ffmpeg:" and the first '#': a file
	// path, a URL (with its own ?query), or a stream's name. It may hold a
	// password: show Redacted(), never Input.
	Input string
	// Video and Audio are the #video= and #audio= values in order,
	// lower-cased: "copy", a template name such as "h264", "pcmu/16000",
	// and for audio "auto".
	Video, Audio []string
	// InputTemplate is #input=: a template name ("file", "rtsp",
	// "rtsp/udp", or one from the config) or a raw template holding
	// {input}. Empty picks one from the kind of Input.
	InputTemplate string
	// Raw are the #raw= values in order: each a template name or extra
	// ffmpeg arguments placed after the input.
	Raw []string
}

// Parse parses "ffmpeg:INPUT#opt=val#…". INPUT ends at the first '#': a URL
// must write '#' as %23 (it cannot hold a fragment in practice), and a file
// whose name holds '#' cannot be named. Repeated #video, #audio and #raw
// keep their order; #input may be given once. Errors never quote INPUT, and
// quote an option name only when it cannot be part of a password.
func Parse(s string) (Spec, error) {
	s = strings.TrimSpace(s)
	scheme, rest, ok := strings.Cut(s, ":")
	if !ok || !strings.EqualFold(scheme, "ffmpeg") {
		return Spec{}, errors.New(`not an ffmpeg source: want "ffmpeg:INPUT#option=value"`)
	}
	input, frag, _ := strings.Cut(rest, "#")
	if input == "" {
		return Spec{}, errors.New("ffmpeg: needs an input, e.g. ffmpeg:/media/song.mp3, ffmpeg:rtsp://host/path or ffmpeg:OTHER_STREAM")
	}
	if hasControl(input) {
		return Spec{}, errors.New("ffmpeg: the input holds a control character")
	}
	spec := Spec{Input: input}
	if frag == "" {
		return spec, nil
	}
	inputSeen := false
	for part := range strings.SplitSeq(frag, "#") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		if k != "video" && k != "audio" && k != "input" && k != "raw" {
			return Spec{}, unknownOption(k)
		}
		if v == "" {
			return Spec{}, fmt.Errorf("ffmpeg: #%s needs a value, e.g. %s", k, optionExample(k))
		}
		if hasControl(v) {
			return Spec{}, fmt.Errorf("ffmpeg: #%s holds a control character", k)
		}
		switch k {
		case "video", "audio":
			v = strings.ToLower(v)
			if !codecToken(v) {
				return Spec{}, fmt.Errorf("ffmpeg: #%s wants a codec or template name (letters, digits, '/', '-', '_', '.'), e.g. %s; use #raw= for ffmpeg arguments", k, optionExample(k))
			}
			if k == "video" {
				spec.Video = append(spec.Video, v)
			} else {
				spec.Audio = append(spec.Audio, v)
			}
		case "input":
			if inputSeen {
				return Spec{}, errors.New("ffmpeg: #input given twice")
			}
			inputSeen = true
			spec.InputTemplate = v
		case "raw":
			spec.Raw = append(spec.Raw, v)
		}
	}
	return spec, nil
}

func unknownOption(k string) error {
	// Options of go2rtc's ffmpeg source that rtspgate does not implement:
	// saying so is more useful than "unknown".
	later := []string{"width", "height", "rotate", "drawtext", "bitrate", "hardware", "async", "timeout", "query"}
	switch {
	case slices.Contains(later, k):
		return fmt.Errorf("ffmpeg: option #%s is not supported by rtspgate yet; accepted: #video, #audio, #input, #raw", k)
	case codecToken(k) && k != "":
		return fmt.Errorf("ffmpeg: unknown option #%s; accepted: #video, #audio, #input, #raw", k)
	default:
		// After an unescaped '#' in a password, the "option" is the rest of it.
		return errors.New("ffmpeg: an unknown option (not shown: it may be part of a password; write '#' in a URL as %23); accepted: #video, #audio, #input, #raw")
	}
}

func optionExample(k string) string {
	switch k {
	case "video":
		return "#video=copy or #video=h264"
	case "audio":
		return "#audio=copy, #audio=aac or #audio=pcmu/16000"
	case "input":
		return "#input=file or #input=rtsp/udp"
	default:
		return "#raw=-ss 10"
	}
}

// codecToken reports whether s is a plain template name: short, and made of
// characters that can be neither ffmpeg arguments nor secrets.
func codecToken(s string) bool {
	if len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '/' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// Scheme returns the lower-cased scheme of a URL input ("rtsp" for
// "rtsp://…"), or "" for a path or a stream name.
func (s Spec) Scheme() string {
	i := strings.Index(s.Input, "://")
	if i <= 0 || !codecToken(s.Input[:i]) || strings.Contains(s.Input[:i], "/") {
		return ""
	}
	return strings.ToLower(s.Input[:i])
}

// Redacted returns the spec as a source string with the password of every
// URL masked ("ffmpeg:rtsp://admin:***@cam/live#video=copy"), in the
// canonical option order video, audio, input, raw. Use it wherever a spec
// is shown.
func (s Spec) Redacted() string {
	var b strings.Builder
	b.WriteString("ffmpeg:")
	b.WriteString(redact.URL(s.Input))
	for _, v := range s.Video {
		b.WriteString("#video=" + v)
	}
	for _, v := range s.Audio {
		b.WriteString("#audio=" + v)
	}
	if s.InputTemplate != "" {
		b.WriteString("#input=" + redact.Text(s.InputTemplate))
	}
	for _, v := range s.Raw {
		b.WriteString("#raw=" + redact.Text(v))
	}
	return b.String()
}

// String is Redacted, so that printing a Spec with %v never shows a password.
func (s Spec) String() string { return s.Redacted() }
