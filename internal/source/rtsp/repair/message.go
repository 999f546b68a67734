package repair

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
)

// takeMessage handles the non-frame bytes at the front of in. It reports
// false when it needs more bytes first.
func (c *conn) takeMessage() bool {
	b := c.in
	kind, n := classify(b)
	switch kind {
	case kindMore:
		return false
	case kindJunk:
		// gortsplib skips such bytes one by one; so do we, in one piece
		c.out, c.in = b[:n], b[n:]
		return true
	case kindUnknown:
		c.giveUp()
		return true
	}

	end, ok := c.head.find(b)
	if (ok && end > maxHead) || (!ok && len(b) > maxHead) {
		c.giveUp()
		return true
	}
	if !ok {
		return false
	}
	if c.head.msg == nil {
		c.head.msg = parseHead(b[:end], kind == kindResponse)
		if c.head.msg == nil {
			c.giveUp()
			return true
		}
	}
	m := c.head.msg
	if m.bodyLen > maxBody {
		c.giveUp()
		return true
	}
	if len(b) < end+m.bodyLen {
		return false
	}
	raw := b[:end+m.bodyLen]
	c.in = b[len(raw):]
	c.head = headScanner{}
	if kind == kindRequest {
		c.out = raw // the camera's own requests are not ours to judge
		return true
	}
	c.out = c.repairResponse(raw, m)
	return true
}

// giveUp hands on everything as it came and stops parsing for good, so
// gortsplib meets the input exactly as if we were not there.
func (c *conn) giveUp() {
	c.out, c.in = c.in, nil
	c.transparent = true
}

type msgKind int

const (
	kindMore msgKind = iota
	kindJunk
	kindUnknown
	kindResponse
	kindRequest
)

// classify looks at the start of b the way gortsplib's reader does.
func classify(b []byte) (msgKind, int) {
	if !isStart(b[0]) {
		n := 1
		for n < len(b) && !isStart(b[n]) {
			n++
		}
		return kindJunk, n
	}
	if len(b) < 2 {
		return kindMore, 0
	}
	if b[0] == 'R' && b[1] == 'T' {
		const proto = "RTSP/"
		k := min(len(b), len(proto))
		switch {
		case string(b[:k]) != proto[:k]:
			return kindUnknown, 0
		case k < len(proto):
			return kindMore, 0
		}
		return kindResponse, 0
	}
	switch string(b[:2]) {
	case "AN", "DE", "GE", "OP", "PA", "PL", "RE", "SE", "TE":
		return kindRequest, 0
	}
	return kindJunk, 1
}

func isStart(c byte) bool {
	switch c {
	case '$', 'A', 'D', 'G', 'O', 'P', 'R', 'S', 'T':
		return true
	}
	return false
}

// headScanner finds the blank line ending a message head; it resumes where
// it stopped so that tiny reads do not rescan.
type headScanner struct {
	pos, lineStart, end int
	msg                 *message
}

func (h *headScanner) find(b []byte) (int, bool) {
	if h.end > 0 {
		return h.end, true
	}
	for h.pos < len(b) {
		i := bytes.IndexByte(b[h.pos:], '\n')
		if i < 0 {
			h.pos = len(b)
			return 0, false
		}
		nl := h.pos + i
		line := b[h.lineStart:nl]
		h.pos = nl + 1
		if h.lineStart > 0 && len(bytes.Trim(line, "\r")) == 0 {
			h.end = nl + 1
			return h.end, true
		}
		h.lineStart = nl + 1
	}
	return 0, false
}

// field is one header line as the camera meant it.
type field struct {
	name  string // trimmed
	value string // trimmed, continuation lines joined
	gview string // the value as gortsplib reads it
}

// message is a tolerant parse of a message head.
type message struct {
	code    int
	reason  string
	fields  []field
	flags   []Quirk // faults in the head's syntax
	bodyLen int
}

// parseHead parses head (status or request line, headers, blank line)
// tolerantly. It returns nil for a status line that does not even carry a
// status code.
func parseHead(head []byte, response bool) *message {
	m := &message{}
	var flags quirkSet
	lines := strings.Split(string(head), "\n")
	lines = lines[:len(lines)-1] // after the last \n
	for i, line := range lines {
		if !strings.HasSuffix(line, "\r") {
			flags.add(QLineEnding)
		}
		if strings.Contains(strings.TrimRight(line, "\r"), "\r") {
			flags.add(QLineEnding)
		}
		line = strings.ReplaceAll(line, "\r", "")
		if i == len(lines)-1 {
			break // the blank line
		}
		if i == 0 {
			if response && !m.statusLine(line, &flags) {
				return nil
			}
			continue
		}
		m.headerLine(line, &flags)
	}
	m.flags = flags.list()

	for _, f := range m.fields {
		if headerKey(f.name) == "Content-Length" {
			m.bodyLen = parseLength(f.value)
		}
	}
	return m
}

func (m *message) statusLine(line string, flags *quirkSet) bool {
	s := strings.TrimLeft(line, " \t")
	proto, rest := s, ""
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		proto, rest = s[:i], strings.TrimLeft(s[i:], " \t")
	}
	if !strings.HasPrefix(proto, "RTSP/") {
		return false
	}
	code, reason := leadingDigits(rest)
	if code == "" || len(code) > 3 {
		return false
	}
	m.code, _ = strconv.Atoi(code)
	m.reason = trimSpace(reason)
	if len(m.reason) > 200 {
		m.reason = m.reason[:200] // gortsplib refuses long ones; it is only text
	}
	canonical := "RTSP/1.0 " + code
	if reason != "" {
		canonical += " " + m.reason
	}
	if line != canonical {
		flags.add(QStatusLine)
	}
	return true
}

func (m *message) headerLine(line string, flags *quirkSet) {
	if line == "" {
		return
	}
	if line[0] == ' ' || line[0] == '\t' {
		flags.add(QFoldedHeader)
		if n := len(m.fields); n > 0 {
			f := &m.fields[n-1]
			if v := trimSpace(line); v != "" {
				f.value = strings.TrimSpace(f.value + " " + v)
			}
			f.gview = f.value
			return
		}
		line = trimSpace(line)
	}
	name, raw, ok := strings.Cut(line, ":")
	if !ok || trimSpace(name) == "" {
		flags.add(QHeaderNoColon)
		return
	}
	if trimSpace(name) != name {
		flags.add(QHeaderSpacing)
	}
	m.fields = append(m.fields, field{
		name:  trimSpace(name),
		value: trimSpace(raw),
		gview: strings.TrimLeft(raw, " "),
	})
}

// gviews returns the values of the headers named key (normalised), as
// gortsplib reads them.
func (m *message) gviews(key string) []string {
	var vs []string
	for _, f := range m.fields {
		if headerKey(f.name) == key {
			vs = append(vs, f.gview)
		}
	}
	return vs
}

// headerKey normalises a header name as gortsplib does.
func headerKey(name string) string {
	switch strings.ToLower(name) {
	case "rtp-info":
		return "RTP-Info"
	case "www-authenticate":
		return "WWW-Authenticate"
	case "cseq":
		return "CSeq"
	case "keymgmt":
		return "KeyMgmt"
	}
	return http.CanonicalHeaderKey(name)
}

// parseLength reads a Content-Length the lenient way (leading digits).
func parseLength(v string) int {
	d, _ := leadingDigits(v)
	if d == "" {
		return 0
	}
	if len(d) > 9 {
		return maxBody + 1
	}
	n, _ := strconv.Atoi(d)
	return n
}

// leadingDigits splits s after its leading ASCII digits.
func leadingDigits(s string) (string, string) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i], s[i:]
}

func trimSpace(s string) string {
	return strings.Trim(s, " \t")
}

// quirkSet collects quirks in the order met, without repeats.
type quirkSet struct {
	qs []Quirk
}

func (s *quirkSet) add(qs ...Quirk) {
	for _, q := range qs {
		if !s.has(q) {
			s.qs = append(s.qs, q)
		}
	}
}

func (s *quirkSet) has(q Quirk) bool {
	for _, x := range s.qs {
		if x == q {
			return true
		}
	}
	return false
}

func (s *quirkSet) list() []Quirk { return s.qs }
