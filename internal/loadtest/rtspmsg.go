package loadtest

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// The readers and the relay speak RTSP by hand: these helpers read and write
// the few messages they need, and skip interleaved frames.

const (
	maxHeaderLines = 64
	maxBodyBytes   = 1 << 20
)

// rtspMessage is an RTSP request or response.
type rtspMessage struct {
	// startLine is "RTSP/1.0 200 OK" or "OPTIONS rtsp://h/p RTSP/1.0".
	startLine string
	// header maps lower-case names to values, in order.
	header map[string][]string
	body   []byte
}

func (m *rtspMessage) get(name string) string {
	if v := m.header[strings.ToLower(name)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// statusCode returns the status of a response, 0 for a request.
func (m *rtspMessage) statusCode() int {
	rest, ok := strings.CutPrefix(m.startLine, "RTSP/1.0 ")
	if !ok {
		return 0
	}
	code, _, _ := strings.Cut(rest, " ")
	n, err := strconv.Atoi(code)
	if err != nil {
		return 0
	}
	return n
}

// request returns the method and URL of a request.
func (m *rtspMessage) request() (string, string, bool) {
	f := strings.Fields(m.startLine)
	if len(f) != 3 || f[2] != "RTSP/1.0" {
		return "", "", false
	}
	return f[0], f[1], true
}

// readRTSPMessage reads one request or response. The caller must have checked
// that the next byte is not '$'.
func readRTSPMessage(br *bufio.Reader) (*rtspMessage, error) {
	line, err := readLine(br)
	if err != nil {
		return nil, err
	}
	m := &rtspMessage{startLine: line, header: make(map[string][]string)}
	for i := 0; ; i++ {
		if i == maxHeaderLines {
			return nil, fmt.Errorf("more than %d header lines", maxHeaderLines)
		}
		line, err := readLine(br)
		if err != nil {
			return nil, err
		}
		if line == "" {
			break
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("malformed header line %q", line)
		}
		key := strings.ToLower(strings.TrimSpace(name))
		m.header[key] = append(m.header[key], strings.TrimSpace(value))
	}
	if cl := m.get("Content-Length"); cl != "" {
		n, err := strconv.Atoi(cl)
		if err != nil || n < 0 || n > maxBodyBytes {
			return nil, fmt.Errorf("bad Content-Length %q", cl)
		}
		m.body = make([]byte, n)
		if _, err := io.ReadFull(br, m.body); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// readLine reads a line up to the size of br's buffer, without its CR LF.
func readLine(br *bufio.Reader) (string, error) {
	b, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return "", errors.New("RTSP line too long")
	}
	if err != nil {
		return "", err
	}
	return string(bytes.TrimRight(b, "\r\n")), nil
}

// skipInterleavedFrame discards one '$' frame.
func skipInterleavedFrame(br *bufio.Reader) error {
	hdr, err := br.Peek(4)
	if err != nil {
		return err
	}
	n := int(binary.BigEndian.Uint16(hdr[2:]))
	_, err = br.Discard(4 + n)
	return err
}

// formatMessage builds a request ("OPTIONS rtsp://… RTSP/1.0") or response
// ("RTSP/1.0 200 OK") from a start line, header lines ("Name: value") and a
// body; Content-Length is added for a non-empty body.
func formatMessage(startLine string, header []string, body []byte) []byte {
	var b bytes.Buffer
	b.WriteString(startLine)
	b.WriteString("\r\n")
	for _, h := range header {
		b.WriteString(h)
		b.WriteString("\r\n")
	}
	if len(body) > 0 {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n")
	b.Write(body)
	return b.Bytes()
}

// interleavedChannels parses "interleaved=a-b" out of a Transport header.
func interleavedChannels(transport string) (int, int, bool) {
	for p := range strings.SplitSeq(transport, ";") {
		v, ok := strings.CutPrefix(strings.TrimSpace(p), "interleaved=")
		if !ok {
			continue
		}
		a, b, found := strings.Cut(v, "-")
		x, err1 := strconv.Atoi(a)
		if err1 != nil || x < 0 || x > 255 {
			return 0, 0, false
		}
		if !found {
			return x, x + 1, x < 255
		}
		y, err2 := strconv.Atoi(b)
		if err2 != nil || y < 0 || y > 255 {
			return 0, 0, false
		}
		return x, y, true
	}
	return 0, 0, false
}
