package config

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/rtspgate/rtspgate/internal/redact"
)

// Source is one source of a stream, such as
// "rtsp://user:pass@host/path#timeout=30#media=video" or "ffmpeg:file.mp4#video=h264".
type Source struct {
	// Raw is the source as written, after ${VAR} expansion. It may hold
	// credentials: never print it; print Redacted() instead.
	Raw     string
	URL     string            // the part of Raw before the first '#'
	Scheme  string            // lower case: "rtsp", "ffmpeg", …; the source kinds decide which they take
	Options map[string]string // "#timeout=30#media=video" -> {"timeout": "30", "media": "video"}; "#foo" -> {"foo": ""}; the last of repeated options wins
	List    []Option          // the same options in the order written, repeats included (ffmpeg allows #audio=aac#audio=opus)
	File    string            // the file that defined it; "" for ParseSource
	Line    int               // its line in File; 0 for ParseSource
}

// Option is one "#key=value" option of a source.
type Option struct {
	Key, Value string
}

// opaqueSchemes are schemes whose sources are not "scheme://…" URLs
// ("ffmpeg:movie.mp4", "exec:…"): anything else without "//" is more likely
// "user:pass@host" than a source, and must not be printed.
var opaqueSchemes = []string{"ffmpeg", "exec", "echo", "expr", "demo"}

// ParseSource checks the syntax of one source string: a scheme, a URL that
// parses when the source is one, and "#name=value" options. Which schemes
// and options exist is for the source kinds to say, once, at load. Its
// error never holds the user name or password of a URL in raw.
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
		return Source{}, errors.New("a source must start with a scheme, e.g. rtsp://host/path or ffmpeg:movie.mp4")
	case strings.HasPrefix(rest, "//") || strings.HasPrefix(scheme, "rtsp"):
		if err := checkURL(main, "the source URL"); err != nil {
			return Source{}, err
		}
	case slices.Contains(opaqueSchemes, scheme):
		if strings.TrimSpace(rest) == "" {
			return Source{}, fmt.Errorf("%s: needs an input after the colon, e.g. %s:movie.mp4", scheme, scheme)
		}
	default:
		// "user:pass@host" looks like scheme "user": do not print it.
		return Source{}, errors.New("a source must start with a scheme, e.g. rtsp://host/path or ffmpeg:movie.mp4")
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

// checkURL checks the syntax of a scheme://host URL; what names it in errors.
func checkURL(raw, what string) error {
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

// Input returns the input of an ffmpeg source ("ffmpeg:INPUT#…" -> INPUT),
// "" for other schemes.
func (s Source) Input() string {
	if s.Scheme != "ffmpeg" {
		return ""
	}
	_, rest, _ := cutScheme(s.URL)
	return rest
}
