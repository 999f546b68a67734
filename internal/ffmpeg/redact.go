package ffmpeg

import (
	"strings"

	"github.com/rtspgate/rtspgate/internal/redact"
)

// redactText masks URL passwords in free text such as an ffmpeg stderr line
// or an argument list; a URL ends at white space there.
func redactText(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	var b strings.Builder
	for len(s) > 0 {
		i := strings.IndexAny(s, " \t")
		if i < 0 {
			i = len(s)
		}
		b.WriteString(redact.URL(s[:i]))
		j := i
		for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
			j++
		}
		b.WriteString(s[i:j])
		s = s[j:]
	}
	return b.String()
}

// redactArgs masks URL passwords in an argument list, for logs.
func redactArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = redactText(a)
	}
	return out
}
