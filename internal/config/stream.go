package config

import (
	"fmt"
	"slices"
)

// Stream is one entry of streams:. It is served at rtsp://host:port/NAME.
type Stream struct {
	Name    string
	Sources []Source // empty: a stream that waits for a publisher
	File    string   // the file that defined it
	Line    int      // the line of its name
}

// SameSources reports whether both streams have the same sources, as
// written, in the same order (a reload restarts a stream only if not).
func (s Stream) SameSources(o Stream) bool {
	return slices.EqualFunc(s.Sources, o.Sources, func(a, b Source) bool { return a.Raw == b.Raw })
}

// CheckStreamName returns an error if name cannot be a stream name: a
// stream name is a URL path segment of letters, digits, '-', '_' and '.',
// and is neither "." nor "..".
func CheckStreamName(name string) error {
	switch name {
	case "":
		return fmt.Errorf("a stream name may not be empty")
	case ".", "..":
		return fmt.Errorf("%q is not a valid stream name", name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("%q: a stream name may hold only letters, digits, '-', '_' and '.'", name)
		}
	}
	return nil
}
