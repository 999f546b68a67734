// Package codecfilter reads codec filter queries: the "video&audio",
// "video=h264,h265&audio=all" or "mp4" that say which tracks of a stream a
// reader gets (in a reader's URL, or as rtsp.default_query in the config).
//
// It is the grammar only and imports nothing of rtspgate: stream.Select
// applies the picks to a stream's tracks, and config checks
// rtsp.default_query with Check, without config depending on the core.
package codecfilter

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Keys are the query keys that pick tracks.
func Keys() []string { return []string{"video", "audio", "mp4"} }

// aliases maps codec names users write to the names tracks go by
// (stream.CodecName).
var aliases = map[string]string{
	"hevc": "H265",
	"jpeg": "MJPEG",
	"mpa":  "MP3",
	"pcm":  "L16",
}

// Pick is one request for tracks of a query.
type Pick struct {
	Kind string // "video" or "audio"
	// All takes every track that matches, not only the first ("=all").
	All bool
	// Codecs are the upper-case codec names that match, aliases resolved
	// ("hevc" -> "H265"); empty: any codec.
	Codecs []string
}

// Matches reports whether a track of the given kind and codec name is one
// the pick asks for.
func (p Pick) Matches(kind, codec string) bool {
	if kind != p.Kind {
		return false
	}
	if len(p.Codecs) == 0 {
		return true
	}
	for _, c := range p.Codecs {
		if c == codec {
			return true
		}
	}
	return false
}

// isKey reports whether k (in any case) is one of Keys.
func isKey(k string) bool {
	switch strings.ToLower(k) {
	case "video", "audio", "mp4":
		return true
	}
	return false
}

// Has reports whether query holds a key that picks tracks; a reader's query
// without one gets rtsp.default_query instead.
func Has(query string) bool {
	for kv := range strings.SplitSeq(query, "&") {
		k, _, _ := strings.Cut(kv, "=")
		if isKey(k) {
			return true
		}
	}
	return false
}

// Parse returns the picks of query in the order written: "video" and
// "audio" (keys in any case, and they may repeat) give one pick each, "mp4"
// two (video H264 or H265, then audio AAC). Other keys are skipped, as a
// reader's URL may hold parameters for something else. The error is a
// value that is not valid URL escaping, in any key.
func Parse(query string) ([]Pick, error) {
	var picks []Pick
	for kv := range strings.SplitSeq(query, "&") {
		k, v, _ := strings.Cut(kv, "=")
		v, err := url.QueryUnescape(v)
		if err != nil {
			return nil, err
		}
		switch k = strings.ToLower(k); k {
		case "video", "audio":
			picks = append(picks, pick(k, v))
		case "mp4":
			picks = append(picks, pick("video", "h264,h265"), pick("audio", "aac"))
		}
	}
	return picks, nil
}

// pick reads the value of one video= or audio= key: "all", or a
// comma-separated list of codec names; empty names and "all" in a list are
// skipped.
func pick(kind, value string) Pick {
	p := Pick{Kind: kind, All: strings.EqualFold(value, "all")}
	for c := range strings.SplitSeq(value, ",") {
		c = strings.ToLower(strings.TrimSpace(c))
		if c == "" || c == "all" {
			continue
		}
		name, ok := aliases[c]
		if !ok {
			name = strings.ToUpper(c)
		}
		p.Codecs = append(p.Codecs, name)
	}
	return p
}

// UnknownKeyError is Check's error for a key that picks no track.
type UnknownKeyError struct {
	Key string // as written
}

func (e *UnknownKeyError) Error() string {
	return fmt.Sprintf("unknown key %q: a codec filter takes video, audio and mp4", e.Key)
}

// Check checks a query written in a config, where nothing but picking tracks
// can be meant. Besides the errors of Parse it refuses a key that is not one
// of Keys (an *UnknownKeyError: "vidoe&audio" would quietly give audio only)
// and a query that picks nothing (every reader would be refused).
func Check(query string) error {
	if _, err := Parse(query); err != nil {
		return err
	}
	for kv := range strings.SplitSeq(query, "&") {
		if kv == "" {
			continue
		}
		k, _, _ := strings.Cut(kv, "=")
		if !isKey(k) {
			return &UnknownKeyError{Key: k}
		}
	}
	if !Has(query) {
		return errors.New("picks no track: write video, audio or mp4, e.g. video&audio")
	}
	return nil
}
