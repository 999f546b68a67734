package stream

import (
	"errors"
	"fmt"
	"strings"

	"github.com/rtspgate/rtspgate/internal/stream/codecfilter"
)

// Errors of codec filter queries.
var (
	// ErrBadQuery: the query is not valid URL escaping.
	ErrBadQuery = errors.New("bad codec filter query")
	// ErrNoMatch: no track of the stream is one the query asks for.
	ErrNoMatch = errors.New("no track matches the query")
)

// HasCodecFilter reports whether a query says which tracks it wants.
func HasCodecFilter(query string) bool { return codecfilter.Has(query) }

// Select picks tracks by a codec filter query: "video" and "audio" take
// the first track of that kind, "=all" every one, "=h264,h265" the first of
// those codecs; keys may repeat; "mp4" is video=h264,h265&audio=aac. The
// result follows the order of the keys and holds no track twice. The
// grammar is codecfilter's.
func Select(tracks []*Track, query string) ([]*Track, error) {
	picks, err := parsePicks(query)
	if err != nil {
		return nil, err
	}
	out, _ := pick(tracks, picks)
	return out, nil
}

func parsePicks(query string) ([]codecfilter.Pick, error) {
	picks, err := codecfilter.Parse(query)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %w", ErrBadQuery, query, err)
	}
	return picks, nil
}

// pick applies picks to tracks, in the order given: the tracks taken, and
// whether more tracks could be taken (a pick found none, or takes all).
// Select and the choice of sources to connect (demand.go) both use it, so
// "the first source with the codec serves it" means the same in both.
func pick(tracks []*Track, picks []codecfilter.Pick) (out []*Track, open bool) {
	taken := map[*Track]bool{}
	for _, p := range picks {
		found := false
		for _, t := range tracks {
			if taken[t] || !p.Matches(string(t.Kind), t.Codec()) {
				continue
			}
			taken[t] = true
			out = append(out, t)
			found = true
			if !p.All {
				break
			}
		}
		open = open || !found || p.All
	}
	return out, open
}

// Describe lists tracks as "video H264, audio PCMA" for messages.
func Describe(tracks []*Track) string {
	parts := make([]string, len(tracks))
	for i, t := range tracks {
		parts[i] = string(t.Kind) + " " + t.Codec()
	}
	return strings.Join(parts, ", ")
}
