package stream

import (
	"fmt"
	"net/url"
	"strings"
)

// codecAliases maps the names users write in queries to CodecName values.
var codecAliases = map[string]string{
	"hevc": "H265",
	"jpeg": "MJPEG",
	"mpa":  "MP3",
	"pcm":  "L16",
}

// HasCodecFilter reports whether a query says which tracks it wants.
func HasCodecFilter(query string) bool {
	for _, kv := range strings.Split(query, "&") {
		k, _, _ := strings.Cut(kv, "=")
		switch strings.ToLower(k) {
		case "video", "audio", "mp4":
			return true
		}
	}
	return false
}

// Select picks tracks by a codec filter query (S3): "video" and "audio" take
// the first track of that kind, "=all" every one, "=h264,h265" the first of
// those codecs; keys may repeat; "mp4" is video=h264,h265&audio=aac. The
// result follows the order of the keys and holds no track twice.
func Select(tracks []*Track, query string) ([]*Track, error) {
	var out []*Track
	taken := map[*Track]bool{}
	pick := func(kind Kind, codecs string) {
		all := strings.EqualFold(codecs, "all")
		want := map[string]bool{}
		for _, c := range strings.Split(codecs, ",") {
			c = strings.TrimSpace(strings.ToLower(c))
			if c == "" || c == "all" {
				continue
			}
			if a, ok := codecAliases[c]; ok {
				want[a] = true
			} else {
				want[strings.ToUpper(c)] = true
			}
		}
		for _, t := range tracks {
			if t.Kind != kind || taken[t] {
				continue
			}
			if len(want) > 0 && !want[t.Codec()] {
				continue
			}
			taken[t] = true
			out = append(out, t)
			if !all {
				return
			}
		}
	}
	for _, kv := range strings.Split(query, "&") {
		k, v, _ := strings.Cut(kv, "=")
		v, err := url.QueryUnescape(v)
		if err != nil {
			return nil, fmt.Errorf("query %q: %w", query, err)
		}
		switch strings.ToLower(k) {
		case "video":
			pick(Video, v)
		case "audio":
			pick(Audio, v)
		case "mp4":
			pick(Video, "h264,h265")
			pick(Audio, "aac")
		}
	}
	return out, nil
}

// Describe lists tracks as "video H264, audio PCMA" for messages.
func Describe(tracks []*Track) string {
	parts := make([]string, len(tracks))
	for i, t := range tracks {
		parts[i] = string(t.Kind) + " " + t.Codec()
	}
	return strings.Join(parts, ", ")
}
