package testpeer

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/headers"
	"github.com/pion/rtp"
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

// PlayTCP sets up trackURLs[i] over TCP interleaved on channels 2i-2i+1
// (what ffmpeg and GStreamer ask for), in one session, then PLAYs url. It
// fails the test on an answer other than 200 and returns the session.
func (rc *RawClient) PlayTCP(url string, trackURLs ...string) string {
	rc.t.Helper()
	session := ""
	for i, tu := range trackURLs {
		session, _ = rc.setup(tu, fmt.Sprintf("RTP/AVP/TCP;unicast;interleaved=%d-%d", 2*i, 2*i+1), session)
	}
	rc.play(url, session)
	return session
}

// setup sends a SETUP of trackURL with transport, in session when it is
// not empty; it returns the session and the answer's Transport header.
func (rc *RawClient) setup(trackURL, transport, session string) (string, string) {
	rc.t.Helper()
	hdr := "Transport: " + transport + "\r\n"
	if session != "" {
		hdr += "Session: " + session + "\r\n"
	}
	rc.Send("SETUP", trackURL, hdr)
	status, h := rc.Response()
	if !strings.Contains(status, "200") {
		rc.t.Fatalf("testpeer: SETUP %s: %s", trackURL, status)
	}
	session, _, _ = strings.Cut(h["session"], ";")
	return session, h["transport"]
}

func (rc *RawClient) play(url, session string) {
	rc.t.Helper()
	rc.Send("PLAY", url, "Session: "+session+"\r\n")
	if status, _ := rc.Response(); !strings.Contains(status, "200") {
		rc.t.Fatalf("testpeer: PLAY %s: %s", url, status)
	}
}

// UDPTrack is a track a RawClient set up over UDP: the sockets the server
// sends to, and the SSRC its SETUP answer announced (HasSSRC false: none).
type UDPTrack struct {
	RTP, RTCP *net.UDPConn
	SSRC      uint32
	HasSSRC   bool
}

// PlayUDP sets up each of trackURLs over UDP unicast, each on a port pair of
// its own on 127.0.0.1, in one session, then PLAYs url. It fails the test
// on an answer other than 200.
func (rc *RawClient) PlayUDP(url string, trackURLs ...string) []UDPTrack {
	rc.t.Helper()
	var tracks []UDPTrack
	session := ""
	for _, tu := range trackURLs {
		a, b := ListenUDPPair(rc.t)
		port := a.LocalAddr().(*net.UDPAddr).Port
		var transport string
		session, transport = rc.setup(tu, fmt.Sprintf("RTP/AVP;unicast;client_port=%d-%d", port, port+1), session)
		var th headers.Transport
		if err := th.Unmarshal(base.HeaderValue{transport}); err != nil {
			rc.t.Fatalf("testpeer: SETUP answer's Transport %q: %v", transport, err)
		}
		tr := UDPTrack{RTP: a, RTCP: b}
		if th.SSRC != nil {
			tr.SSRC, tr.HasSSRC = *th.SSRC, true
		}
		tracks = append(tracks, tr)
	}
	rc.play(url, session)
	return tracks
}

// ReadRTP reads RTP datagrams from c until enough says so (given what was
// read), each read within 5 s.
func ReadRTP(t testing.TB, c *net.UDPConn, enough func([]*rtp.Packet) bool) []*rtp.Packet {
	t.Helper()
	var got []*rtp.Packet
	buf := make([]byte, 65536)
	for !enough(got) {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("testpeer: after %d RTP packets: %v", len(got), err)
		}
		var p rtp.Packet
		if err := p.Unmarshal(bytes.Clone(buf[:n])); err != nil {
			t.Fatalf("testpeer: not RTP: %v", err)
		}
		got = append(got, &p)
	}
	return got
}
