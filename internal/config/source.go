package config

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rtspgate/rtspgate/internal/redact"
)

// Source is one source of a stream, such as
// "rtsp://user:pass@host/path#timeout=30#media=video" or "ffmpeg:file.mp4#video=h264".
type Source struct {
	// Raw is the source as written, after ${VAR} expansion. It may hold
	// credentials: never print it; print Redacted() instead.
	Raw     string
	URL     string            // the part of Raw before the first '#'
	Scheme  string            // "rtsp", "rtsps", "rtspx" or "ffmpeg"
	Options map[string]string // "#timeout=30#media=video" -> {"timeout": "30", "media": "video"}; "#foo" -> {"foo": ""}; the last of repeated options wins
	List    []Option          // the same options in the order written, repeats included (ffmpeg allows #audio=aac#audio=opus)
	File    string            // the file that defined it; "" for ParseSource
	Line    int               // its line in File; 0 for ParseSource
}

// Option is one "#key=value" option of a source.
type Option struct {
	Key, Value string
}

// Schemes are the source schemes rtspgate accepts.
func Schemes() []string { return []string{"rtsp", "rtsps", "rtspx", "ffmpeg"} }

// rtspOptions are the fragment options of rtsp, rtsps and rtspx sources.
var rtspOptions = []string{"timeout", "media", "backchannel", "transport"}

// maxTimeout bounds #timeout (seconds).
const maxTimeout = 86400

// otherSchemes are the source schemes of the original product; naming one
// in an error is safe (it is not a user name).
var otherSchemes = []string{
	"alsa", "bubble", "dvrip", "echo", "exec", "expr", "flussonic", "gopro", "hass", "homekit",
	"http", "https", "httpx", "isapi", "ivideon", "kasa", "mpjpeg", "nest", "onvif", "ring",
	"roborock", "rtmp", "rtmps", "rtmpx", "srt", "tapo", "tcp", "udp", "v4l2", "vigi",
	"webrtc", "webtorrent", "wyze", "yandex", "doorbird", "eseecloud", "tuya", "xiaomi",
}

// ParseSource parses and checks one source string. Its error never holds
// the user name or password of a URL in raw.
func ParseSource(raw string) (Source, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return Source{}, errors.New("an empty source; write a URL such as rtsp://host/path, or leave the stream empty to wait for a publisher")
	}
	s := Source{Raw: raw, Options: map[string]string{}}
	main, frag, _ := strings.Cut(raw, "#")
	s.URL = main

	scheme, rest, ok := cutScheme(main)
	switch {
	case !ok:
		return Source{}, errors.New("a source must start with a scheme; accepted: rtsp://, rtsps://, rtspx:// and ffmpeg")
	case scheme == "rtsp" || scheme == "rtsps" || scheme == "rtspx":
		if err := checkRTSPURL(main, "the source URL"); err != nil {
			return Source{}, err
		}
	case scheme == "ffmpeg":
		if strings.TrimSpace(rest) == "" {
			return Source{}, errors.New("ffmpeg: needs an input, e.g. ffmpeg:movie.mp4 or ffmpeg:rtsp://host/path or ffmpeg:OTHER_STREAM")
		}
	case strings.HasPrefix(rest, "//") || slices.Contains(otherSchemes, scheme):
		return Source{}, fmt.Errorf("unsupported scheme %q; accepted: rtsp, rtsps, rtspx, ffmpeg", scheme)
	default:
		// "user:pass@host" looks like scheme "user": do not print it.
		return Source{}, errors.New("a source must start with a scheme; accepted: rtsp://, rtsps://, rtspx:// and ffmpeg")
	}
	s.Scheme = scheme

	if frag != "" {
		for part := range strings.SplitSeq(frag, "#") {
			if part == "" {
				continue
			}
			k, v, _ := strings.Cut(part, "=")
			if k == "" {
				return Source{}, errors.New("an option with no name (write #name=value)")
			}
			if scheme != "ffmpeg" {
				var err error
				if v, err = checkRTSPOption(k, v, s.Options); err != nil {
					return Source{}, err
				}
			}
			s.Options[k] = v
			s.List = append(s.List, Option{Key: k, Value: v})
		}
	}
	return s, nil
}

// cutScheme splits "scheme:rest" and lower-cases the scheme. It fails if
// there is no ':' or the part before it is not a valid URL scheme.
func cutScheme(s string) (scheme, rest string, ok bool) {
	i := strings.IndexByte(s, ':')
	if i <= 0 {
		return "", "", false
	}
	for j := 0; j < i; j++ {
		c := s[j]
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !letter && (j == 0 || !(c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return "", "", false
		}
	}
	return strings.ToLower(s[:i]), s[i+1:], true
}

// checkRTSPURL checks an rtsp, rtsps or rtspx URL (or, for what, a ws URL).
func checkRTSPURL(raw, what string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%s %s", what, urlProblem(err))
	}
	if u.Opaque != "" || u.Host == "" || u.Hostname() == "" {
		return fmt.Errorf("%s has no host (want %s://[user:pass@]host[:port]/path)", what, u.Scheme)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.ParseUint(p, 10, 16); err != nil || n == 0 {
			return fmt.Errorf("%s has a port out of range (1-65535)", what)
		}
	}
	return nil
}

// urlProblem says what is wrong with a URL without quoting any of it (the
// text of a url.Parse error may hold part of a password).
func urlProblem(err error) string {
	const hint = " (in a user name or password write '@' as %40, '#' as %23, '/' as %2F, '?' as %3F, '%' as %25)"
	var ee url.EscapeError
	var he url.InvalidHostError
	msg := err.Error()
	switch {
	case errors.As(err, &ee):
		return "holds a '%' that is not a %XX escape" + hint
	case errors.As(err, &he):
		return "has an invalid character in its host" + hint
	case strings.Contains(msg, "invalid port"):
		return "has a port that is not a number" + hint
	case strings.Contains(msg, "control character"):
		return "holds a control character"
	case strings.Contains(msg, "missing ']'"):
		return "has an IPv6 host without its closing ']'"
	default:
		return "is not a valid URL" + hint
	}
}

// checkRTSPOption checks one fragment option of an rtsp* source and returns
// its value, normalised.
func checkRTSPOption(k, v string, seen map[string]string) (string, error) {
	if !slices.Contains(rtspOptions, k) {
		if safeToken(k) {
			return "", fmt.Errorf("unknown option #%s; rtsp sources accept #timeout, #media, #backchannel, #transport", k)
		}
		return "", errors.New("an unknown option (not shown: it may be part of a password; write '#' in a password as %23); rtsp sources accept #timeout, #media, #backchannel, #transport")
	}
	if _, dup := seen[k]; dup {
		return "", fmt.Errorf("option #%s given twice", k)
	}
	switch k {
	case "timeout":
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxTimeout {
			return "", fmt.Errorf("#timeout: want a whole number of seconds from 1 to %d, got %s", maxTimeout, showValue(v))
		}
	case "media":
		v = strings.ToLower(v)
		if v != "video" && v != "audio" {
			return "", fmt.Errorf("#media: want video or audio, got %s", showValue(v))
		}
	case "backchannel":
		if v != "0" && v != "1" {
			return "", fmt.Errorf("#backchannel: want 0 or 1, got %s", showValue(v))
		}
	case "transport":
		lv := strings.ToLower(v)
		switch {
		case lv == "udp" || lv == "tcp":
			v = lv
		case strings.HasPrefix(lv, "ws://") || strings.HasPrefix(lv, "wss://"):
			if err := checkRTSPURL(v, "#transport"); err != nil {
				return "", err
			}
		default:
			if strings.Contains(v, "://") {
				return "", errors.New("#transport: want udp, tcp or a ws:// or wss:// URL, got another kind of URL")
			}
			return "", fmt.Errorf("#transport: want udp, tcp or a ws:// or wss:// URL, got %s", showValue(v))
		}
	}
	return v, nil
}

// safeToken reports whether s is a short word that cannot be a secret's
// fragment worth hiding (an option name, a number, a word).
func safeToken(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// showValue quotes a source option value for an error if it is a plain word.
func showValue(v string) string {
	if v == "" {
		return "nothing"
	}
	if safeToken(v) {
		return strconv.Quote(v)
	}
	return "a value not shown here"
}

// Redacted returns Raw with the password of every URL in it (the main URL
// and URLs in options such as #transport=ws://user:pass@host/) replaced by
// "***": "rtsp://admin:secret@cam/live" -> "rtsp://admin:***@cam/live".
// Use it wherever a source is shown.
func (s Source) Redacted() string {
	parts := strings.Split(s.Raw, "#")
	for i, p := range parts {
		parts[i] = redact.URL(p)
	}
	return strings.Join(parts, "#")
}

// Timeout returns #timeout as a duration, 0 if unset.
func (s Source) Timeout() time.Duration {
	n, err := strconv.Atoi(s.Options["timeout"])
	if err != nil || n <= 0 {
		return 0
	}
	return time.Duration(n) * time.Second
}

// MediaKinds returns the kinds of media to keep: ["video"] or ["audio"]
// when #media is set, else ["video", "audio"].
func (s Source) MediaKinds() []string {
	if m := s.Options["media"]; m != "" {
		return []string{m}
	}
	return []string{"video", "audio"}
}

// Backchannel reports whether the backchannel may be requested: true unless
// #backchannel=0. Other options do not change this.
func (s Source) Backchannel() bool {
	return s.Options["backchannel"] != "0"
}

// Transport returns #transport: "" (the default, TCP interleaved), "tcp",
// "udp", or a ws:// or wss:// URL (which may hold credentials).
func (s Source) Transport() string {
	return s.Options["transport"]
}

// Input returns the input of an ffmpeg source ("ffmpeg:INPUT#…" -> INPUT),
// "" for other schemes.
func (s Source) Input() string {
	if s.Scheme != "ffmpeg" {
		return ""
	}
	_, rest, _ := cutScheme(s.URL)
	return rest
}
