package ffmpeg

import (
	"strings"
	"sync"

	"github.com/rtspgate/rtspgate/internal/redact"
)

// maxLineLen bounds one kept stderr line; a program printing without
// newlines cannot grow the buffer.
const maxLineLen = 512

// tail is an io.Writer that keeps the last max lines written to it. '\r'
// ends a line too, since progress output rewrites one line with it.
type tail struct {
	mu    sync.Mutex
	max   int
	kept  []string // oldest first
	cur   []byte
	extra bool // cur was cut at maxLineLen
}

func (t *tail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range b {
		switch {
		case c == '\n' || c == '\r':
			t.endLine()
		case len(t.cur) < maxLineLen:
			t.cur = append(t.cur, c)
		default:
			t.extra = true
		}
	}
	return len(b), nil
}

func (t *tail) endLine() {
	if line := t.line(); line != "" {
		if len(t.kept) == t.max {
			t.kept = append(t.kept[:0], t.kept[1:]...)
		}
		t.kept = append(t.kept, line)
	}
	t.cur, t.extra = t.cur[:0], false
}

// line is the current partial line, cleaned up.
func (t *tail) line() string {
	s := strings.TrimSpace(strings.ToValidUTF8(string(t.cur), "?"))
	if s != "" && t.extra {
		s += "…"
	}
	return s
}

// lines returns the kept lines and the unfinished one, URL passwords
// masked (ffmpeg prints its input URL as given).
func (t *tail) lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]string, 0, len(t.kept)+1)
	out = append(out, t.kept...)
	if s := t.line(); s != "" {
		out = append(out, s)
	}
	if len(out) > t.max {
		out = out[len(out)-t.max:]
	}
	for i, s := range out {
		out[i] = redact.Text(s)
	}
	return out
}
