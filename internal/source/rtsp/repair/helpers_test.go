package repair

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/auth"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/headers"
	"github.com/bluenviron/gortsplib/v5/pkg/sdpunmarshaler"
)

// fakeConn hands out camera bytes in fixed chunks and records our writes.
type fakeConn struct {
	mu     sync.Mutex
	chunks [][]byte
	wrote  bytes.Buffer
}

func newFakeConn(camera []byte, split func([]byte) [][]byte) *fakeConn {
	if split == nil {
		return &fakeConn{chunks: [][]byte{camera}}
	}
	return &fakeConn{chunks: split(camera)}
}

func (f *fakeConn) Read(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for len(f.chunks) > 0 && len(f.chunks[0]) == 0 {
		f.chunks = f.chunks[1:]
	}
	if len(f.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, f.chunks[0])
	f.chunks[0] = f.chunks[0][n:]
	return n, nil
}

func (f *fakeConn) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.wrote.Write(p)
}

func (f *fakeConn) Close() error                     { return nil }
func (f *fakeConn) LocalAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 50000} }
func (f *fakeConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 554} }
func (f *fakeConn) SetDeadline(time.Time) error      { return nil }
func (f *fakeConn) SetReadDeadline(time.Time) error  { return nil }
func (f *fakeConn) SetWriteDeadline(time.Time) error { return nil }

func splitEvery(n int) func([]byte) [][]byte {
	return func(b []byte) [][]byte {
		var out [][]byte
		for len(b) > n {
			out = append(out, b[:n])
			b = b[n:]
		}
		return append(out, b)
	}
}

func splitAt(i int) func([]byte) [][]byte {
	return func(b []byte) [][]byte { return [][]byte{b[:i], b[i:]} }
}

// result is what came out of the wrapper.
type result struct {
	out       []byte
	quirks    []Quirk
	responses []*base.Response
	writes    []byte
}

// runWrap writes our requests, then reads everything the camera sent
// through the wrapper, readSize bytes at a time.
func runWrap(t testing.TB, requests [][]byte, camera []byte, split func([]byte) [][]byte, readSize int) result {
	t.Helper()
	fc := newFakeConn(camera, split)
	var r result
	c := Wrap(fc, Options{
		OnQuirk:    func(q Quirk) { r.quirks = append(r.quirks, q) },
		OnResponse: func(res *base.Response) { r.responses = append(r.responses, res) },
	})
	for _, req := range requests {
		if _, err := c.Write(req); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, readSize)
	for {
		n, err := c.Read(buf)
		r.out = append(r.out, buf[:n]...)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	r.writes = fc.wrote.Bytes()
	return r
}

// testReq is one of our requests, marshalled the way gortsplib does.
type testReq struct {
	method    base.Method
	url       string
	cseq      int
	transport string
}

const camURL = "rtsp://127.0.0.1:8554/cam"

var (
	optionsReq  = testReq{method: base.Options, url: camURL, cseq: 1}
	describeReq = testReq{method: base.Describe, url: camURL, cseq: 2}
	setupTCPReq = testReq{method: base.Setup, url: camURL + "/trackID=1", cseq: 3, transport: "RTP/AVP/TCP;unicast;interleaved=0-1"}
	setupUDPReq = testReq{method: base.Setup, url: camURL + "/trackID=1", cseq: 3, transport: "RTP/AVP;unicast;client_port=52794-52795"}
)

func (r testReq) bytes() []byte {
	u, err := base.ParseURL(r.url)
	if err != nil {
		panic(err)
	}
	h := base.Header{
		"CSeq":       base.HeaderValue{strconv.Itoa(r.cseq)},
		"User-Agent": base.HeaderValue{"gortsplib"},
	}
	if r.method == base.Describe {
		h["Accept"] = base.HeaderValue{"application/sdp"}
	}
	if r.transport != "" {
		h["Transport"] = base.HeaderValue{r.transport}
	}
	b, err := base.Request{Method: r.method, URL: u, Header: h}.Marshal()
	if err != nil {
		panic(err)
	}
	return b
}

// verdict judges an answer the way gortsplib's client does for r: nil when
// the client would go on with it.
func verdict(r testReq, raw []byte) error {
	rd := bytes.NewReader(raw)
	br := bufio.NewReader(rd)
	var res base.Response
	if err := res.Unmarshal(br); err != nil {
		return fmt.Errorf("response: %w", err)
	}
	if rd.Len()+br.Buffered() != 0 {
		return errors.New("response: bytes left over")
	}
	if v, ok := res.Header["CSeq"]; ok && len(v) == 1 && strings.TrimSpace(v[0]) != strconv.Itoa(r.cseq) {
		return errors.New("CSeq: answer ignored")
	}
	if v, ok := res.Header["Session"]; ok {
		var sx headers.Session
		if err := sx.Unmarshal(v); err != nil {
			return fmt.Errorf("session: %w", err)
		}
	}
	if res.StatusCode == base.StatusUnauthorized {
		s := auth.Sender{WWWAuth: res.Header["WWW-Authenticate"], User: "u", Pass: "p"}
		if err := s.Initialize(); err != nil {
			return fmt.Errorf("auth: %w", err)
		}
	}
	switch r.method {
	case base.Describe:
		return describeVerdict(r, &res)
	case base.Setup:
		return setupVerdict(r, &res)
	}
	return nil
}

func describeVerdict(r testReq, res *base.Response) error {
	u, _ := base.ParseURL(r.url)
	if res.StatusCode >= base.StatusMovedPermanently && res.StatusCode <= base.StatusUseProxy {
		if len(res.Header["Location"]) != 1 {
			return errors.New("no Location")
		}
		_, err := base.ParseURL(res.Header["Location"][0])
		return err
	}
	if res.StatusCode != base.StatusOK {
		return nil
	}
	ct, ok := res.Header["Content-Type"]
	if !ok || len(ct) != 1 {
		return errors.New("Content-Type missing")
	}
	if strings.Split(ct[0], ";")[0] != "application/sdp" {
		return errors.New("Content-Type unsupported")
	}
	sd, err := sdpunmarshaler.Unmarshal(res.Body)
	if err != nil {
		return fmt.Errorf("sdp: %w", err)
	}
	var desc description.Session
	if err := desc.Unmarshal2(sd); err != nil {
		return fmt.Errorf("description: %w", err)
	}
	baseURL, err := baseURLOf(sd.Attribute, res, u)
	if err != nil {
		return err
	}
	for _, m := range desc.Medias {
		mu, err := m.URL(baseURL)
		if err != nil || mu == nil {
			return fmt.Errorf("media URL: %v", err)
		}
	}
	return nil
}

// baseURLOf is gortsplib's client rule for the base URL of a stream.
func baseURLOf(attr func(string) (string, bool), res *base.Response, u *base.URL) (*base.URL, error) {
	if ctl, ok := attr("control"); ok && ctl != "*" {
		return base.ParseURL(ctl)
	}
	if cb, ok := res.Header["Content-Base"]; ok {
		if len(cb) != 1 {
			return nil, errors.New("several Content-Base")
		}
		if strings.HasPrefix(cb[0], "/") {
			return base.ParseURL(u.Scheme + "://" + u.Host + cb[0])
		}
		return base.ParseURL(cb[0])
	}
	return u, nil
}

func setupVerdict(r testReq, res *base.Response) error {
	if res.StatusCode != base.StatusOK {
		return nil
	}
	var th headers.Transport
	if err := th.Unmarshal(res.Header["Transport"]); err != nil {
		return fmt.Errorf("transport: %w", err)
	}
	if strings.Contains(r.transport, "/TCP") {
		switch {
		case th.Protocol != headers.TransportProtocolTCP:
			return errors.New("server requested UDP")
		case th.InterleavedIDs == nil:
			return errors.New("no interleaved IDs")
		case th.InterleavedIDs[0]+1 != th.InterleavedIDs[1]:
			return errors.New("interleaved IDs not consecutive")
		}
	}
	return nil
}

func readResponse(t testing.TB, b []byte) *base.Response {
	t.Helper()
	var res base.Response
	if err := res.Unmarshal(bufio.NewReader(bytes.NewReader(b))); err != nil {
		t.Fatalf("output not readable: %v\n%q", err, b)
	}
	return &res
}

func transportOf(t testing.TB, res *base.Response) headers.Transport {
	t.Helper()
	var th headers.Transport
	if err := th.Unmarshal(res.Header["Transport"]); err != nil {
		t.Fatal(err)
	}
	return th
}

// describeAnswer builds a DESCRIBE answer around sdp, with the given extra
// header lines (each ending in \r\n).
func describeAnswer(sdp string, extra ...string) string {
	return "RTSP/1.0 200 OK\r\nCSeq: 2\r\nContent-Type: application/sdp\r\n" +
		strings.Join(extra, "") +
		"Content-Length: " + strconv.Itoa(len(sdp)) + "\r\n\r\n" + sdp
}

func setupAnswer(transport string) string {
	return "RTSP/1.0 200 OK\r\nCSeq: 3\r\nSession: 12345678;timeout=60\r\nTransport: " + transport + "\r\n\r\n"
}

// interleaved returns a frame on channel ch with payload p.
func interleaved(ch byte, p []byte) []byte {
	return append([]byte{'$', ch, byte(len(p) >> 8), byte(len(p))}, p...)
}
