package wsconn

import (
	"bytes"
	"context"
	"crypto/md5" //nolint:gosec // the test server checks what the client computed
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/gorilla/websocket"
	"github.com/pion/rtp"
)

// wsServer is a WebSocket server on 127.0.0.1 that checks the upgrade's
// credentials as its auth says and then hands the connection to serve.
type wsServer struct {
	srv  *httptest.Server
	url  string // ws://127.0.0.1:PORT
	user string
	pass string
	// auth is "", "basic", or a Digest algorithm ("MD5", "SHA-256"); with
	// qop, the Digest challenge offers qop="auth"
	auth  string
	qop   bool
	serve func(*websocket.Conn)

	mu       sync.Mutex
	requests []*http.Request // every upgrade request seen, answered or not
	digestOK bool            // a Digest answer was checked and matched
}

func startWS(t *testing.T, s *wsServer, useTLS bool) *wsServer {
	t.Helper()
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.handle))
	// TestWSS's refused certificate is expected, not news
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if useTLS {
		s.srv.StartTLS()
		s.url = "wss://" + s.srv.Listener.Addr().String()
	} else {
		s.srv.Start()
		s.url = "ws://" + s.srv.Listener.Addr().String()
	}
	t.Cleanup(s.srv.Close)
	return s
}

// withCreds is the server's URL with user:pass@ and path.
func (s *wsServer) withCreds(user, pass, path string) string {
	scheme, host, _ := strings.Cut(s.url, "://")
	return scheme + "://" + user + ":" + pass + "@" + host + path
}

func (s *wsServer) seen() []*http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*http.Request(nil), s.requests...)
}

const testNonce = "bm9uY2UtZm9yLXRoZS10ZXN0"

func (s *wsServer) handle(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests = append(s.requests, r.Clone(r.Context()))
	s.mu.Unlock()
	switch s.auth {
	case "":
	case "basic":
		if u, p, ok := r.BasicAuth(); !ok || u != s.user || p != s.pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
	default:
		if !s.checkDigest(r) {
			c := `Digest realm="cam \"7\"", nonce="` + testNonce + `", opaque="op", algorithm=` + s.auth
			if s.qop {
				c += `, qop="auth"`
			}
			// a Basic challenge beside it, as many cameras send
			w.Header().Add("WWW-Authenticate", `Basic realm="cam"`)
			w.Header().Add("WWW-Authenticate", c)
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
	}
	up := websocket.Upgrader{Subprotocols: []string{"rtsp.onvif.org"}}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer ws.Close()
	s.serve(ws)
}

// checkDigest verifies a Digest Authorization with the formulas of RFC 7616
// written out again here.
func (s *wsServer) checkDigest(r *http.Request) bool {
	v := r.Header.Get("Authorization")
	if !strings.HasPrefix(v, "Digest ") {
		return false
	}
	p := parseChallenges([]string{v})[0].params
	var newHash func() hash.Hash = md5.New
	if s.auth == "SHA-256" {
		newHash = sha256.New
	}
	h := func(s string) string {
		x := newHash()
		x.Write([]byte(s))
		return hex.EncodeToString(x.Sum(nil))
	}
	ha1 := h(s.user + ":cam \"7\":" + s.pass)
	ha2 := h(r.Method + ":" + r.URL.RequestURI())
	want := h(ha1 + ":" + testNonce + ":" + ha2)
	if s.qop {
		if p["qop"] != "auth" || p["nc"] == "" || p["cnonce"] == "" {
			return false
		}
		want = h(ha1 + ":" + testNonce + ":" + p["nc"] + ":" + p["cnonce"] + ":auth:" + ha2)
	}
	ok := p["username"] == s.user && p["uri"] == r.URL.RequestURI() && p["opaque"] == "op" &&
		p["nonce"] == testNonce && p["response"] == want
	if ok {
		s.mu.Lock()
		s.digestOK = true
		s.mu.Unlock()
	}
	return ok
}

// echo sends back every message it gets, with its type.
func echo(ws *websocket.Conn) {
	for {
		typ, b, err := ws.ReadMessage()
		if err != nil {
			return
		}
		if ws.WriteMessage(typ, b) != nil {
			return
		}
	}
}

// splitStats counts how the proxy cut the camera's byte stream.
type splitStats struct {
	messages atomic.Int64
	tiny     atomic.Int64 // messages of 1 to 3 bytes: cuts inside any RTSP message or packet
	joined   atomic.Int64 // messages longer than one interleaved packet: several joined
}

// proxyTo relays a WebSocket to the TCP server at addr. The server's bytes
// are gathered for a moment, so that several packets come together, and sent
// in messages of sizes that cut everything at odd places: inside status
// lines, headers, interleaved headers, RTP headers and payloads.
func proxyTo(t *testing.T, addr string, frameLen int, st *splitStats) func(*websocket.Conn) {
	return func(ws *websocket.Conn) {
		tc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Errorf("proxy: %v", err)
			return
		}
		defer tc.Close()
		go func() {
			defer tc.Close()
			for {
				_, r, err := ws.NextReader()
				if err != nil {
					return
				}
				if _, err := io.Copy(tc, r); err != nil {
					return
				}
			}
		}()
		sizes := []int{1, 3, 2, 7, 5, 11, 13, 2000, 17, 1, 4000, 2, 29}
		k := 0
		buf := make([]byte, 64<<10)
		for {
			n, err := tc.Read(buf)
			if err != nil {
				return
			}
			_ = tc.SetReadDeadline(time.Now().Add(3 * time.Millisecond))
			for n < len(buf) {
				m, err := tc.Read(buf[n:])
				n += m
				if err != nil {
					break
				}
			}
			_ = tc.SetReadDeadline(time.Time{})
			for p := buf[:n]; len(p) > 0; k++ {
				sz := min(sizes[k%len(sizes)], len(p))
				if err := ws.WriteMessage(websocket.BinaryMessage, p[:sz]); err != nil {
					return
				}
				st.messages.Add(1)
				if sz <= 3 {
					st.tiny.Add(1)
				}
				if sz > frameLen {
					st.joined.Add(1)
				}
				p = p[sz:]
			}
		}
	}
}

const (
	testPayload = 160 // 20 ms of G.711
	testBurst   = 4   // packets written at once, so that the proxy can join them
)

// testPayloadOf is the payload of the packet with sequence number seq.
func testPayloadOf(seq uint16) []byte {
	b := make([]byte, testPayload)
	for i := range b {
		b[i] = byte(seq) ^ byte(i*7)
	}
	return b
}

type rtspHandler struct {
	stream atomic.Pointer[gortsplib.ServerStream]
}

func (h *rtspHandler) OnDescribe(*gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	return &base.Response{StatusCode: base.StatusOK}, h.stream.Load(), nil
}

func (h *rtspHandler) OnSetup(*gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	return &base.Response{StatusCode: base.StatusOK}, h.stream.Load(), nil
}

func (h *rtspHandler) OnPlay(*gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// startRTSP runs gortsplib's server on 127.0.0.1 with a G.711 stream at
// /cam, bursts of testBurst packets every 20 ms, and returns its address.
func startRTSP(t *testing.T) string {
	t.Helper()
	h := &rtspHandler{}
	srv := &gortsplib.Server{Handler: h, RTSPAddress: "127.0.0.1:0"}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	medi := &description.Media{Type: description.MediaTypeAudio, Formats: []format.Format{
		&format.G711{PayloadTyp: 8, SampleRate: 8000, ChannelCount: 1},
	}}
	stream := &gortsplib.ServerStream{Server: srv, Desc: &description.Session{Medias: []*description.Media{medi}}}
	if err := stream.Initialize(); err != nil {
		t.Fatal(err)
	}
	h.stream.Store(stream)
	stop := make(chan struct{})
	done := make(chan struct{})
	t.Cleanup(func() {
		close(stop)
		<-done
		stream.Close()
	})
	go func() {
		defer close(done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		var seq uint16
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for range testBurst {
				pkt := &rtp.Packet{
					Header:  rtp.Header{Version: 2, PayloadType: 8, SequenceNumber: seq, Timestamp: uint32(seq) * 160, SSRC: 0x5eed},
					Payload: testPayloadOf(seq),
				}
				_ = stream.WritePacketRTP(medi, pkt)
				seq++
			}
		}
	}()
	return srv.NetListener().Addr().String()
}

// TestRTSPThroughWebSocket: gortsplib's client DESCRIBEs, SETs UP and PLAYs a
// gortsplib server through a WebSocket proxy that cuts the server's bytes at
// odd places and joins packets, and gets every packet intact and in order.
func TestRTSPThroughWebSocket(t *testing.T) {
	rtspAddr := startRTSP(t)
	st := &splitStats{}
	ws := startWS(t, &wsServer{serve: proxyTo(t, rtspAddr, 4+12+testPayload, st)}, false)
	wsURL := ws.url + "/rtsp-over-websocket"

	tcp := gortsplib.ProtocolTCP
	c := &gortsplib.Client{
		Scheme:   "rtsp",
		Host:     rtspAddr,
		Protocol: &tcp,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return Dial(ctx, wsURL, 5*time.Second, nil)
		},
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	u, err := base.ParseURL("rtsp://" + rtspAddr + "/cam")
	if err != nil {
		t.Fatal(err)
	}
	desc, _, err := c.Describe(u)
	if err != nil {
		t.Fatalf("DESCRIBE: %v", err)
	}
	if len(desc.Medias) != 1 {
		t.Fatalf("medias %v", desc.Medias)
	}
	if err := c.SetupAll(desc.BaseURL, desc.Medias); err != nil {
		t.Fatalf("SETUP: %v", err)
	}

	const want = 100
	got := make(chan struct{})
	var mu sync.Mutex
	var n int
	var last uint16
	var bad []string
	c.OnPacketRTPAny(func(_ *description.Media, _ format.Format, pkt *rtp.Packet) {
		mu.Lock()
		defer mu.Unlock()
		if n > 0 && pkt.SequenceNumber != last+1 {
			bad = append(bad, fmt.Sprintf("seq %d after %d", pkt.SequenceNumber, last))
		}
		if !bytes.Equal(pkt.Payload, testPayloadOf(pkt.SequenceNumber)) {
			bad = append(bad, fmt.Sprintf("payload of seq %d differs", pkt.SequenceNumber))
		}
		last = pkt.SequenceNumber
		n++
		if n == want {
			close(got)
		}
	})
	if _, err := c.Play(nil); err != nil {
		t.Fatalf("PLAY: %v", err)
	}
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		mu.Lock()
		t.Fatalf("%d packets within 10 s, want %d", n, want)
	}
	mu.Lock()
	if len(bad) > 0 {
		t.Errorf("packets damaged: %q", bad)
	}
	mu.Unlock()
	t.Logf("messages %d, of 1-3 bytes %d, with several packets %d", st.messages.Load(), st.tiny.Load(), st.joined.Load())
	if st.tiny.Load() == 0 || st.joined.Load() == 0 {
		t.Errorf("the proxy did not both split and join (tiny %d, joined %d)", st.tiny.Load(), st.joined.Load())
	}

	reqs := ws.seen()
	if len(reqs) != 1 {
		t.Fatalf("%d upgrade requests, want 1", len(reqs))
	}
	if p := reqs[0].Header.Get("Sec-WebSocket-Protocol"); p != "binary, rtsp.onvif.org" {
		t.Errorf("subprotocols offered %q, want binary, rtsp.onvif.org", p)
	}
	if reqs[0].URL.Path != "/rtsp-over-websocket" {
		t.Errorf("path %q", reqs[0].URL.Path)
	}
	if a := reqs[0].Header.Get("Authorization"); a != "" {
		t.Errorf("Authorization %q sent without credentials in the URL", a)
	}
}

// TestStream: reads cross message boundaries (text messages count as data),
// each Write is one binary message, an empty Write sends nothing.
func TestStream(t *testing.T) {
	ws := startWS(t, &wsServer{serve: func(ws *websocket.Conn) {
		for _, m := range []struct {
			typ int
			s   string
		}{
			{websocket.BinaryMessage, "ab"},
			{websocket.BinaryMessage, ""},
			{websocket.BinaryMessage, "cdef"},
			{websocket.TextMessage, "gh"},
			{websocket.BinaryMessage, "ijklmnop"},
		} {
			if ws.WriteMessage(m.typ, []byte(m.s)) != nil {
				return
			}
		}
		echo(ws)
	}}, false)
	c, err := Dial(t.Context(), ws.url, 5*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	var got []string
	buf := make([]byte, 3)
	total := 0
	for total < 16 {
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("Read after %q: %v", got, err)
		}
		got = append(got, string(buf[:n]))
		total += n
	}
	if s := strings.Join(got, ""); s != "abcdefghijklmnop" {
		t.Errorf("stream %q (reads %q)", s, got)
	}
	for _, r := range got {
		if len(r) == 0 {
			t.Errorf("an empty read in %q", got)
		}
	}

	if n, err := c.Write(nil); n != 0 || err != nil {
		t.Errorf("Write(nil) = %d, %v", n, err)
	}
	for _, s := range []string{"RTSP/1.0 ", "200 OK\r\n"} {
		if n, err := c.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	// the echo comes back one message per Write: two reads of a large
	// buffer get them apart
	big := make([]byte, 100)
	for _, want := range []string{"RTSP/1.0 ", "200 OK\r\n"} {
		n, err := c.Read(big)
		if err != nil || string(big[:n]) != want {
			t.Errorf("Read = %q, %v; want %q", big[:n], err, want)
		}
	}
}

// TestDeadlinesAndClose: a passed read deadline is a timeout; the peer's
// close frame is io.EOF; Close sends a close frame, quickly.
func TestDeadlinesAndClose(t *testing.T) {
	closed := make(chan error, 1)
	release := make(chan struct{})
	ws := startWS(t, &wsServer{serve: func(ws *websocket.Conn) {
		_, _, err := ws.ReadMessage() // waits for the client's close
		closed <- err
		<-release
	}}, false)
	defer close(release)
	c, err := Dial(t.Context(), ws.url, 5*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetReadDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = c.Read(make([]byte, 10))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("Read past the deadline: %v, want a timeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("timeout after %v", d)
	}
	if _, err2 := c.Read(make([]byte, 10)); err2 == nil {
		t.Error("a second Read after the timeout succeeded")
	}
	if err := c.SetDeadline(time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}

	start = time.Now()
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	_ = c.Close() // twice is fine
	if d := time.Since(start); d > closeWait+time.Second {
		t.Errorf("Close took %v", d)
	}
	select {
	case err := <-closed:
		if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
			t.Errorf("server saw %v, want a normal close frame", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("the server saw no close")
	}

	// the server hangs up with a close frame: Read says io.EOF
	ws2 := startWS(t, &wsServer{serve: func(ws *websocket.Conn) {
		_ = ws.WriteMessage(websocket.BinaryMessage, []byte("x"))
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "bye"), time.Now().Add(time.Second))
		time.Sleep(100 * time.Millisecond)
	}}, false)
	c2, err := Dial(t.Context(), ws2.url, 5*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	b, err := io.ReadAll(c2)
	if string(b) != "x" || err != nil { // ReadAll stops at io.EOF without an error
		t.Errorf("ReadAll = %q, %v; want x and io.EOF", b, err)
	}
}

// TestWriteDeadline: a passed write deadline fails the Write as a timeout.
func TestWriteDeadline(t *testing.T) {
	ws := startWS(t, &wsServer{serve: echo}, false)
	c, err := Dial(t.Context(), ws.url, 5*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roundTrip(t, c)
	if err := c.SetWriteDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	_, err = c.Write([]byte("late"))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("Write past the deadline: %v, want a timeout", err)
	}
}

func TestBasicAuth(t *testing.T) {
	const user, pass = "admin", "pa:ss@1/x"
	ws := startWS(t, &wsServer{auth: "basic", user: user, pass: pass, serve: echo}, false)
	c, err := Dial(t.Context(), ws.withCreds(user, "pa%3Ass%401%2Fx", "/rtspoverwebsocket"), 5*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	reqs := ws.seen()
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	if len(reqs) != 1 || reqs[0].Header.Get("Authorization") != want {
		t.Fatalf("requests %d, want 1 with Authorization %q", len(reqs), want)
	}
	if reqs[0].URL.Path != "/rtspoverwebsocket" {
		t.Errorf("path %q", reqs[0].URL.Path)
	}
	roundTrip(t, c)
}

func TestDigestAuth(t *testing.T) {
	for _, tc := range []struct {
		alg string
		qop bool
	}{{"SHA-256", true}, {"MD5", true}, {"MD5", false}} {
		t.Run(fmt.Sprintf("%s-qop=%v", tc.alg, tc.qop), func(t *testing.T) {
			const user, pass = "root", "Pass word!"
			ws := startWS(t, &wsServer{auth: tc.alg, qop: tc.qop, user: user, pass: pass, serve: echo}, false)
			c, err := Dial(t.Context(), ws.withCreds(user, "Pass%20word%21", "/rtsp-over-websocket?x=1"), 5*time.Second, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			reqs := ws.seen()
			if len(reqs) != 2 || !strings.HasPrefix(reqs[0].Header.Get("Authorization"), "Basic ") ||
				!strings.HasPrefix(reqs[1].Header.Get("Authorization"), "Digest ") {
				t.Fatalf("want a Basic request answered 401, then one with Digest; got %d requests", len(reqs))
			}
			ws.mu.Lock()
			ok := ws.digestOK
			ws.mu.Unlock()
			if !ok {
				t.Error("the server never verified a Digest answer")
			}
			if p := reqs[1].Header.Get("Sec-WebSocket-Protocol"); p != "binary, rtsp.onvif.org" {
				t.Errorf("retry offers %q", p)
			}
			roundTrip(t, c)
		})
	}
}

// TestDigestUnknownAlgorithm: a Digest challenge we cannot answer is said
// so, not reported as a wrong password.
func TestDigestUnknownAlgorithm(t *testing.T) {
	ws := startWS(t, &wsServer{auth: "SHA-1024", user: "u", pass: "p", serve: echo}, false)
	c, err := Dial(t.Context(), ws.withCreds("u", "p", "/"), 5*time.Second, nil)
	if err == nil {
		c.Close()
		t.Fatal("Dial succeeded")
	}
	if !strings.Contains(err.Error(), "upgrade refused (401 Unauthorized): its Digest challenge has an algorithm not supported here") {
		t.Errorf("error %q", err)
	}
}

func roundTrip(t *testing.T, c net.Conn) {
	t.Helper()
	if _, err := c.Write([]byte("OPTIONS * RTSP/1.0\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 64)
	n, err := io.ReadAtLeast(c, b, 22)
	if err != nil || string(b[:n]) != "OPTIONS * RTSP/1.0\r\n\r\n" {
		t.Errorf("echo %q, %v", b[:n], err)
	}
}

// TestRefusedWithoutPassword: a refused upgrade says 401 and never the
// password, whichever way it was refused.
func TestRefusedWithoutPassword(t *testing.T) {
	const secret = "s3cr3t-pw"
	for _, tc := range []struct {
		name, auth, user, pass, want string
	}{
		{"basic-wrong", "basic", "admin", "wrong-" + secret, "wrong user or password for the WebSocket (Basic)"},
		{"digest-wrong", "SHA-256", "admin", "wrong-" + secret, "wrong user or password for the WebSocket (Digest)"},
		{"none", "basic", "", "", "the server wants credentials"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws := startWS(t, &wsServer{auth: tc.auth, qop: true, user: "admin", pass: secret, serve: echo}, false)
			u := ws.url + "/"
			if tc.user != "" {
				u = ws.withCreds(tc.user, tc.pass, "/")
			}
			c, err := Dial(t.Context(), u, 5*time.Second, nil)
			if err == nil {
				c.Close()
				t.Fatal("Dial succeeded")
			}
			var ue *UpgradeError
			if !errors.As(err, &ue) || ue.StatusCode != http.StatusUnauthorized {
				t.Fatalf("error %v, want an UpgradeError with 401", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, "upgrade refused (401 Unauthorized)") || !strings.Contains(msg, tc.want) {
				t.Errorf("error %q, want upgrade refused (401 Unauthorized) … %s", msg, tc.want)
			}
			if strings.Contains(msg, secret) {
				t.Errorf("error shows the password: %q", msg)
			}
			if tc.user != "" && !strings.Contains(msg, "admin:***@") {
				t.Errorf("error %q does not name the URL as admin:***@…", msg)
			}
			if n, wantN := len(ws.seen()), map[string]int{"basic": 1, "SHA-256": 2}[tc.auth]; n != wantN {
				t.Errorf("%d upgrade requests, want %d (Digest is tried once)", n, wantN)
			}
		})
	}
}

// TestOtherErrorsHidePassword: errors before any answer mask the password too.
func TestOtherErrorsHidePassword(t *testing.T) {
	const secret = "s3cr3t-pw"
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	silent := l.Addr().String() // accepts (the kernel does) and never answers
	defer l.Close()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := closed.Addr().String()
	closed.Close()

	for _, tc := range []struct{ url, want string }{
		{"ws://admin:" + secret + "@" + refused + "/", "refused"},
		{"ws://admin:" + secret + "@" + silent + "/", "no upgrade within 200ms"},
		{"ws://admin:" + secret + "@127.0.0.1:notaport/", "bad URL"},
		{"http://admin:" + secret + "@127.0.0.1/", "want a ws:// or wss:// URL"},
		{"ws://admin:" + secret + "@/x", "no host"},
		{"ws://admin:" + secret + "%zz@127.0.0.1/", "bad URL"},
	} {
		start := time.Now()
		c, err := Dial(t.Context(), tc.url, 200*time.Millisecond, nil)
		if err == nil {
			c.Close()
			t.Errorf("%s: Dial succeeded", redactedForTest(tc.url))
			continue
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s: failed after %v", redactedForTest(tc.url), d)
		}
		msg := err.Error()
		if strings.Contains(msg, secret) || strings.Contains(msg, "zz") || !strings.Contains(msg, "admin:***@") || !strings.Contains(msg, tc.want) {
			t.Errorf("error %q, want %q, admin:***@ and no password", strings.ReplaceAll(msg, secret, "<PASSWORD>"), tc.want)
		}
	}
}

func redactedForTest(u string) string { return strings.ReplaceAll(u, "s3cr3t-pw", "<PASSWORD>") }

// TestWSS: wss:// verifies the certificate with the given config, or the
// system roots without one.
func TestWSS(t *testing.T) {
	ws := startWS(t, &wsServer{serve: echo}, true)
	pool := x509.NewCertPool()
	pool.AddCert(ws.srv.Certificate())
	c, err := Dial(t.Context(), ws.url+"/", 5*time.Second, &tls.Config{RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, c)
	c.Close()
	if c, err := Dial(t.Context(), ws.url+"/", 5*time.Second, nil); err == nil {
		c.Close()
		t.Error("a self-signed certificate was accepted without a config")
	}
}
