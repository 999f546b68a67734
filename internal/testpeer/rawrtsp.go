package testpeer

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// RawClient speaks RTSP over TCP by hand, for tests that need exact bytes:
// a reader that never reads, requests while media flows, odd channels. One
// connection carries both responses and interleaved '$' frames.
type RawClient struct {
	Conn net.Conn
	R    *bufio.Reader
	t    testing.TB
	cseq int
}

// DialRaw connects to the host of an rtsp:// URL; the test closes it.
func DialRaw(t testing.TB, url string) *RawClient {
	t.Helper()
	host, _, _ := strings.Cut(strings.TrimPrefix(url, "rtsp://"), "/")
	c, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &RawClient{Conn: c, R: bufio.NewReader(c), t: t}
}

// Send writes a request with the next CSeq; headers are whole lines ending
// in "\r\n".
func (rc *RawClient) Send(method, url string, headers ...string) {
	rc.cseq++
	req := fmt.Sprintf("%s %s RTSP/1.0\r\nCSeq: %d\r\n%s\r\n", method, url, rc.cseq, strings.Join(headers, ""))
	rc.Conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(rc.Conn, req); err != nil {
		rc.t.Fatal(err)
	}
}

// Next returns the next message: a response (status line, headers with
// lower-case names; channel -1) or an interleaved frame (channel, payload).
func (rc *RawClient) Next() (status string, hdr map[string]string, channel int, payload []byte) {
	rc.Conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := rc.R.Peek(1)
	if err != nil {
		rc.t.Fatal(err)
	}
	if b[0] == '$' {
		var h [4]byte
		if _, err := io.ReadFull(rc.R, h[:]); err != nil {
			rc.t.Fatal(err)
		}
		payload = make([]byte, binary.BigEndian.Uint16(h[2:]))
		if _, err := io.ReadFull(rc.R, payload); err != nil {
			rc.t.Fatal(err)
		}
		return "", nil, int(h[1]), payload
	}
	line, err := rc.R.ReadString('\n')
	if err != nil {
		rc.t.Fatal(err)
	}
	if !strings.HasPrefix(line, "RTSP/1.0 ") {
		rc.t.Fatalf("stream is corrupt: got %q where a response or a '$' frame must start", line)
	}
	hdr = map[string]string{}
	length := 0
	for {
		l, err := rc.R.ReadString('\n')
		if err != nil {
			rc.t.Fatal(err)
		}
		l = strings.TrimRight(l, "\r\n")
		if l == "" {
			break
		}
		k, v, _ := strings.Cut(l, ":")
		hdr[strings.ToLower(k)] = strings.TrimSpace(v)
		if strings.EqualFold(k, "content-length") {
			fmt.Sscanf(strings.TrimSpace(v), "%d", &length)
		}
	}
	if _, err := io.ReadFull(rc.R, make([]byte, length)); err != nil {
		rc.t.Fatal(err)
	}
	return strings.TrimSpace(line), hdr, -1, nil
}

// Response skips frames until a response comes.
func (rc *RawClient) Response() (string, map[string]string) {
	for {
		st, h, ch, _ := rc.Next()
		if ch < 0 {
			return st, h
		}
	}
}
