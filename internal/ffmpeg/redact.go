package ffmpeg

import "github.com/rtspgate/rtspgate/internal/redact"

// redactArgs masks URL passwords in an argument list, for logs.
func redactArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = redact.Text(a)
	}
	return out
}
