package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// talkBackend is a fakeBackend that talks live: each TalkLive replaces the
// session before it, as the app's one talker per camera does.
type talkBackend struct {
	*fakeBackend
	mu       sync.Mutex
	sessions []*fakeLive
	tries    int   // TalkLive calls
	startErr error // TalkLive's error, when set
	ender    bool  // sessions say when they end (Done, Err)
}

func newTalkBackend(streams map[string]*StreamInfo) *talkBackend {
	return &talkBackend{fakeBackend: &fakeBackend{streams: streams}}
}

func (b *talkBackend) TalkLive(_ context.Context, name string) (LiveTalk, error) {
	b.mu.Lock()
	b.tries++
	b.mu.Unlock()
	if b.startErr != nil {
		return nil, b.startErr
	}
	info, ok := b.streams[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	var codecs []string
	for _, p := range info.Producers {
		for _, m := range p.Medias {
			if m.Direction == "sendonly" {
				codecs = append(codecs, m.Codecs...)
			}
		}
	}
	if len(codecs) == 0 {
		return nil, fmt.Errorf("%w: %q", ErrNoBackchannel, name)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, old := range b.sessions {
		old.replace()
	}
	l := &fakeLive{codecs: codecs, wrote: make(chan struct{}, 1000), closed: make(chan struct{}), done: make(chan struct{})}
	b.sessions = append(b.sessions, l)
	if b.ender {
		return endingLive{l}, nil
	}
	return l, nil
}

// endingLive is a fakeLive that says when it ends.
type endingLive struct{ *fakeLive }

func (l endingLive) Done() <-chan struct{} { return l.done }

func (l endingLive) Err() error {
	select {
	case <-l.done:
		return fmt.Errorf("door: %w", ErrTalkReplaced)
	default:
		return nil
	}
}

func (b *talkBackend) calledTimes() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.tries
}

func (b *talkBackend) started() []*fakeLive {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*fakeLive(nil), b.sessions...)
}

// fakeLive records what it was given.
type fakeLive struct {
	codecs []string
	wrote  chan struct{} // one per Write
	closed chan struct{}
	done   chan struct{} // closed when replaced

	mu       sync.Mutex
	writes   [][]byte
	codec    []string
	replaced bool
	closes   int
	writeErr error
}

func (l *fakeLive) Codecs() []string { return l.codecs }

func (l *fakeLive) Write(codec string, payload []byte) error {
	l.mu.Lock()
	defer func() {
		l.mu.Unlock()
		l.wrote <- struct{}{}
	}()
	if l.closes > 0 {
		return errors.New("Write after Close")
	}
	if l.replaced {
		return fmt.Errorf("door: %w", ErrTalkReplaced)
	}
	if l.writeErr != nil {
		return l.writeErr
	}
	l.writes = append(l.writes, append([]byte(nil), payload...))
	l.codec = append(l.codec, codec)
	return nil
}

func (l *fakeLive) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closes++
	if l.closes == 1 {
		close(l.closed)
	}
}

func (l *fakeLive) replace() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.replaced {
		l.replaced = true
		close(l.done)
	}
}

func (l *fakeLive) got() ([][]byte, []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.writes, l.codec
}

func (l *fakeLive) waitClosed(t *testing.T) {
	t.Helper()
	select {
	case <-l.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the talk session was not closed")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closes != 1 {
		t.Errorf("Close called %d times", l.closes)
	}
}

// talkServer serves s on a loopback httptest server; it returns the
// ws:// base and the host.
func talkServer(t *testing.T, b Backend) (*Server, string, string) {
	t.Helper()
	s, _ := newTest(t, Config{}, b)
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	host := strings.TrimPrefix(ts.URL, "http://")
	return s, "ws://" + host, host
}

// dialTalk opens /api/talk?query with Origin origin ("" for none).
func dialTalk(t *testing.T, base, query, origin string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	c, res, err := d.Dial(base+"/api/talk?"+query, h)
	if c != nil {
		t.Cleanup(func() { _ = c.Close() })
	}
	return c, res, err
}

// wantRefused checks a refused handshake: its status and JSON error.
func wantRefused(t *testing.T, res *http.Response, err error, status int, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("the handshake succeeded, want %d", status)
	}
	if res == nil {
		t.Fatalf("no answer: %v", err)
	}
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != status {
		t.Fatalf("status %d, want %d: %s", res.StatusCode, status, body)
	}
	var e errorJSON
	if json.Unmarshal(body, &e) != nil || !strings.Contains(e.Error, want) {
		t.Errorf("body %s, want a JSON error with %q", body, want)
	}
	if v := res.Header.Get("Access-Control-Allow-Origin"); v != "" {
		t.Errorf("CORS header %q", v)
	}
}

// wantClose reads until the server closes c and checks the code and reason.
func wantClose(t *testing.T, c *websocket.Conn, code int, reason string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("connection ended with %v, want close %d %q", err, code, reason)
		}
		if ce.Code != code || !strings.Contains(ce.Text, reason) {
			t.Fatalf("closed with %d %q, want %d %q", ce.Code, ce.Text, code, reason)
		}
		return
	}
}

// TestTalkWS: the binary messages of the socket reach the session's
// Write, whole and in order, in the codec asked for; closing the socket
// closes the session.
func TestTalkWS(t *testing.T) {
	tb := newTalkBackend(map[string]*StreamInfo{"door": doorbell()})
	_, base, host := talkServer(t, tb)
	for _, tc := range []struct{ query, origin, codec string }{
		{"dst=door&codec=PCMU", "http://" + host, "PCMU/8000"},
		{"dst=door&codec=pcma", "http://" + strings.ToUpper(host), "PCMA/8000"}, // host names are case-insensitive
		{"dst=door", "", "PCMU/8000"},                                           // not a browser; the first G.711 codec
	} {
		t.Run(tc.query, func(t *testing.T) {
			c, res, err := dialTalk(t, base, tc.query, tc.origin)
			if err != nil {
				t.Fatalf("dial: %v (%v)", err, res)
			}
			sessions := tb.started()
			l := sessions[len(sessions)-1]
			const n = 100
			for i := range n {
				msg := bytes.Repeat([]byte{byte(i)}, 160)
				msg[0] = byte(i >> 8)
				if err := c.WriteMessage(websocket.BinaryMessage, msg); err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
			}
			for i := range n {
				select {
				case <-l.wrote:
				case <-time.After(5 * time.Second):
					t.Fatalf("%d messages of %d written", i, n)
				}
			}
			_ = c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "stopped"))
			l.waitClosed(t)
			writes, codecs := l.got()
			if len(writes) != n {
				t.Fatalf("%d writes, want %d", len(writes), n)
			}
			for i, w := range writes {
				if len(w) != 160 || w[1] != byte(i) || w[0] != byte(i>>8) {
					t.Fatalf("write %d: %d bytes starting % x, out of order or cut", i, len(w), w[:2])
				}
				if codecs[i] != tc.codec {
					t.Fatalf("write %d in %q, want %q", i, codecs[i], tc.codec)
				}
			}
		})
	}
}

// TestTalkWSRefused: what is refused before the upgrade is a JSON error,
// and reaches TalkLive only when nothing else is wrong, so that a request
// bound to fail does not cut off the one talking.
func TestTalkWSRefused(t *testing.T) {
	plain := &StreamInfo{Name: "plain", Producers: []Producer{{URL: "rtsp://192.168.1.30/live", State: "online",
		Medias: []Media{{Kind: "video", Direction: "recvonly", Codecs: []string{"H264"}}}}}}
	aac := &StreamInfo{Name: "aac", Producers: []Producer{{URL: "rtsp://192.168.1.31/live", State: "online",
		Medias: []Media{{Kind: "audio", Direction: "sendonly", Codecs: []string{"MPEG4-GENERIC/16000/1"}}}}}}
	tb := newTalkBackend(map[string]*StreamInfo{"door": doorbell(), "plain": plain, "aac": aac})
	_, base, host := talkServer(t, tb)
	self := "http://" + host
	for _, tc := range []struct {
		query, origin string
		status        int
		want          string
		reachesTalk   bool
	}{
		{"dst=door&codec=PCMU", "http://evil.example", 403, "cross-site WebSocket refused", false},
		{"dst=door&codec=PCMU", "http://" + strings.Replace(host, "127.0.0.1", "localhost", 1), 403, "cross-site", false},
		{"dst=door&codec=PCMU", "null", 403, "cross-site", false},
		{"dst=door&codec=PCMU", "https://" + host + ".evil.example", 403, "cross-site", false},
		{"dst=nope&codec=PCMU", self, 404, `no such stream: "nope"`, true},
		{"dst=plain&codec=PCMU", self, 409, "no backchannel", true},
		{"dst=aac", self, 409, "the backchannel takes MPEG4-GENERIC/16000/1", true},
		{"dst=door&codec=OPUS", self, 400, "codec= is PCMU or PCMA", false},
		{"codec=PCMU", self, 400, "dst= names the stream", false},
		{"dst=a%0Ab", self, 400, "control character", false},
	} {
		tries := tb.calledTimes()
		_, res, err := dialTalk(t, base, tc.query, tc.origin)
		wantRefused(t, res, err, tc.status, tc.want)
		if reached := tb.calledTimes() > tries; reached != tc.reachesTalk {
			t.Errorf("%s from %s: TalkLive called: %v, want %v", tc.query, tc.origin, reached, tc.reachesTalk)
		}
	}
	// only the AAC camera's session was started, and closed
	if s := tb.started(); len(s) != 1 {
		t.Errorf("%d sessions started by refused requests, want 1", len(s))
	} else {
		s[0].waitClosed(t)
	}

	// the codec asked for is not the camera's: refused, the session closed
	pcmu := newTalkBackend(map[string]*StreamInfo{"door": {Name: "door", Producers: []Producer{{
		URL: "rtsp://cam/x", Medias: []Media{{Kind: "audio", Direction: "sendonly", Codecs: []string{"PCMU/8000"}}}}}}})
	_, base2, host2 := talkServer(t, pcmu)
	_, res, err := dialTalk(t, base2, "dst=door&codec=PCMA", "http://"+host2)
	wantRefused(t, res, err, 400, "does not take PCMA; it takes PCMU/8000")
	pcmu.started()[0].waitClosed(t)

	// a backend that cannot talk live
	_, base3, host3 := talkServer(t, &fakeBackend{streams: map[string]*StreamInfo{"door": doorbell()}})
	_, res, err = dialTalk(t, base3, "dst=door&codec=PCMU", "http://"+host3)
	wantRefused(t, res, err, 501, "not available")

	// TalkLive's errors
	tb.startErr = errors.New("camera rtsp://admin:" + secret + "@cam/x refused")
	_, res, err = dialTalk(t, base, "dst=door", self)
	wantRefused(t, res, err, 500, "admin:***@cam")
	tb.startErr = nil

	// not a WebSocket, another method, no login from the network
	s, _ := newTest(t, Config{Username: "admin", Password: secret}, tb)
	wantError(t, do(t, s, "GET", "/api/talk?dst=door&codec=PCMU", local, nil), 426, "takes a WebSocket")
	w := do(t, s, "POST", "/api/talk?dst=door&codec=PCMU", local, nil)
	wantError(t, w, 405, "open a WebSocket with GET")
	if a := w.Header().Get("Allow"); a != "GET" {
		t.Errorf("Allow %q", a)
	}
	wantError(t, do(t, s, "GET", "/api/talk?dst=door", "192.168.1.9:5000", nil,
		"Connection", "Upgrade", "Upgrade", "websocket", "Sec-WebSocket-Version", "13",
		"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), 401, "authentication required")
	wantError(t, do(t, s, "GET", "/api/talk?dst=door", local, nil,
		"Connection", "Upgrade", "Upgrade", "websocket", "Sec-WebSocket-Version", "8",
		"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), 426, "version 13")
	if n := len(tb.started()); n != 1 {
		t.Errorf("%d sessions started, want the 1 above", n)
	}
}

// TestTalkWSReplaced: a second talker takes over; the first socket is
// closed with the reason, and its session closed without stopping the
// new one.
func TestTalkWSReplaced(t *testing.T) {
	tb := newTalkBackend(map[string]*StreamInfo{"door": doorbell()})
	_, base, host := talkServer(t, tb)
	first, _, err := dialTalk(t, base, "dst=door&codec=PCMU", "http://"+host)
	if err != nil {
		t.Fatal(err)
	}
	if err := first.WriteMessage(websocket.BinaryMessage, make([]byte, 160)); err != nil {
		t.Fatal(err)
	}
	second, _, err := dialTalk(t, base, "dst=door&codec=PCMU", "http://"+host)
	if err != nil {
		t.Fatal(err)
	}
	// the first learns it on its next message
	if err := first.WriteMessage(websocket.BinaryMessage, make([]byte, 160)); err != nil {
		t.Fatal(err)
	}
	wantClose(t, first, closeReplaced, "replaced by another talker")
	s := tb.started()
	s[0].waitClosed(t)
	if err := second.WriteMessage(websocket.BinaryMessage, make([]byte, 160)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s[1].wrote:
	case <-time.After(5 * time.Second):
		t.Fatal("the new talker's audio was not written")
	}
	if w, _ := s[1].got(); len(w) != 1 {
		t.Errorf("the new talker: %d writes", len(w))
	}
}

// TestTalkWSReplacedAtOnce: a session that says when it ends has its
// socket closed then, without waiting for the page's next message.
func TestTalkWSReplacedAtOnce(t *testing.T) {
	tb := newTalkBackend(map[string]*StreamInfo{"door": doorbell()})
	tb.ender = true
	_, base, host := talkServer(t, tb)
	first, _, err := dialTalk(t, base, "dst=door&codec=PCMU", "http://"+host)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := dialTalk(t, base, "dst=door&codec=PCMU", "http://"+host); err != nil {
		t.Fatal(err)
	}
	wantClose(t, first, closeReplaced, "replaced by another talker")
	tb.started()[0].waitClosed(t)
}

// TestTalkWSEnds: the server ends a talk with a reason the page can show:
// a camera error, a message too big, a text message, the server closing.
func TestTalkWSEnds(t *testing.T) {
	tb := newTalkBackend(map[string]*StreamInfo{"door": doorbell()})
	_, base, host := talkServer(t, tb)
	origin := "http://" + host
	open := func() (*websocket.Conn, *fakeLive) {
		c, _, err := dialTalk(t, base, "dst=door&codec=PCMU", origin)
		if err != nil {
			t.Fatal(err)
		}
		s := tb.started()
		return c, s[len(s)-1]
	}

	c, l := open()
	l.mu.Lock()
	l.writeErr = errors.New("rtsp://admin:" + secret + "@cam/x: broken pipe")
	l.mu.Unlock()
	_ = c.WriteMessage(websocket.BinaryMessage, make([]byte, 160))
	wantClose(t, c, closeCamera, "the camera's backchannel failed: rtsp://admin:***@cam/x: broken pipe")
	l.waitClosed(t)

	c, l = open()
	_ = c.WriteMessage(websocket.BinaryMessage, make([]byte, talkMaxMessage+1))
	wantClose(t, c, websocket.CloseMessageTooBig, "")
	l.waitClosed(t)

	c, l = open()
	_ = c.WriteMessage(websocket.TextMessage, []byte("hello"))
	wantClose(t, c, websocket.CloseUnsupportedData, "binary")
	l.waitClosed(t)

	// a connection that drops without a close frame
	c, l = open()
	_ = c.UnderlyingConn().Close()
	l.waitClosed(t)

	// Close of the server ends the hijacked socket at once
	s, _ := newTest(t, Config{Listen: "127.0.0.1:0"}, tb)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	addr := s.Addr().String()
	c, _, err := dialTalk(t, "ws://"+addr, "dst=door&codec=PCMU", "http://"+addr)
	if err != nil {
		t.Fatal(err)
	}
	sessions := tb.started()
	l = sessions[len(sessions)-1]
	done := make(chan struct{})
	go func() {
		defer close(done)
		wantClose(t, c, websocket.CloseGoingAway, "rtspgate is stopping")
	}()
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	<-done
	l.waitClosed(t)
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("the talk ended %v after Close", d)
	}
}

func TestPickCodec(t *testing.T) {
	for _, tc := range []struct {
		codecs     []string
		want, got  string
		wantExists bool
	}{
		{[]string{"PCMU/8000", "PCMA/8000"}, "", "PCMU/8000", true},
		{[]string{"PCMA/8000", "PCMU/8000"}, "", "PCMA/8000", true},
		{[]string{"PCMA/8000", "PCMU/8000"}, "PCMU", "PCMU/8000", true},
		{[]string{"PCMU"}, "PCMU", "PCMU", true},
		{[]string{"PCMU/16000", "G722/8000"}, "", "", false},
		{[]string{"OPUS/48000/2", "PCMA/8000"}, "", "PCMA/8000", true},
		{nil, "", "", false},
	} {
		got, ok := pickCodec(tc.codecs, tc.want)
		if got != tc.got || ok != tc.wantExists {
			t.Errorf("pickCodec(%q, %q) = %q, %v; want %q, %v", tc.codecs, tc.want, got, ok, tc.got, tc.wantExists)
		}
	}
}
