package stream

import (
	"fmt"
	"strings"

	"github.com/rtspgate/rtspgate/internal/stream/codecfilter"
)

// HasCodecFilter reports whether a query says which tracks it wants.
func HasCodecFilter(query string) bool { return codecfilter.Has(query) }

// Select picks tracks by a codec filter query: "video" and "audio" take
// the first track of that kind, "=all" every one, "=h264,h265" the first of
// those codecs; keys may repeat; "mp4" is video=h264,h265&audio=aac. The
// result follows the order of the keys and holds no track twice. The
// grammar is codecfilter's.
func Select(tracks []*Track, query string) ([]*Track, error) {
	picks, err := codecfilter.Parse(query)
	if err != nil {
		return nil, fmt.Errorf("query %q: %w", query, err)
	}
	var out []*Track
	taken := map[*Track]bool{}
	for _, p := range picks {
		for _, t := range tracks {
			if taken[t] || !p.Matches(string(t.Kind), t.Codec()) {
				continue
			}
			taken[t] = true
			out = append(out, t)
			if !p.All {
				break
			}
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
