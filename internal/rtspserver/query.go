package rtspserver

import "net/url"

// gopQuery reads a reader's `gop=1` / `gop=0` (start at the last keyframe
// held, or wait for the next one; some players must not get a burst): 1, 0,
// or -1 when the query does not say.
func gopQuery(rawQuery string) int {
	q, err := url.ParseQuery(rawQuery)
	if err != nil || !q.Has("gop") {
		return -1
	}
	switch q.Get("gop") {
	case "0", "false", "no", "off":
		return 0
	}
	return 1
}
