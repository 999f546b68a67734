package api

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"github.com/rtspgate/rtspgate/internal/redact"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

// Talking from the browser: GET /api/talk?dst=NAME&codec=PCMU upgrades to
// a WebSocket whose binary messages are G.711 audio for the camera's
// backchannel, 20 ms (160 bytes at 8 kHz) each, written to the camera in
// the order they came.

// Talker is what a Backend implements to take live audio from the web
// page. The server type-asserts its Backend to it; without it /api/talk
// answers 501.
type Talker interface {
	// TalkLive starts a talk session on the backchannel of stream name,
	// replacing the one talking (RTSP, a file or another browser), whose
	// LiveTalk.Write then fails with an error wrapping ErrTalkReplaced.
	// ctx bounds the start only; the session lasts until Close. Errors
	// wrap ErrNotFound (no such stream) or ErrNoBackchannel.
	TalkLive(ctx context.Context, name string) (LiveTalk, error)
}

// LiveTalk is one talk session started by TalkLive.
type LiveTalk interface {
	// Codecs are the backchannel's codecs, the camera's first choice first,
	// named as in CodecName: "PCMU/8000", "PCMA/8000" (a bare "PCMU" is
	// taken too). The page sends only PCMU or PCMA at 8 kHz.
	Codecs() []string
	// Write sends one message of audio, payload in codec (one of Codecs,
	// as Codecs names it), to the camera; it must not keep payload. An
	// error ends the session and is shown to the talker: after another
	// talker took over it wraps ErrTalkReplaced. Write is called from one
	// goroutine at a time, and not after Close.
	Write(codec string, payload []byte) error
	// Close ends the session (the socket closed); it is called once, and
	// must not stop a talker that replaced this one.
	Close()
}

// talkEnder is what a LiveTalk may implement besides, so that the socket
// is closed (with the reason) as soon as the session ends, not only at the
// page's next message: Done is closed when it ends by itself, and Err then
// says why (wrapping ErrTalkReplaced when another talker took over).
type talkEnder interface {
	Done() <-chan struct{}
	Err() error
}

// ErrTalkReplaced is what a LiveTalk's Write wraps once another talker
// has taken the backchannel.
var ErrTalkReplaced = errors.New("another talker took over the backchannel")

// Bounds of a talk socket.
const (
	talkMaxMessage = 4 << 10          // bytes in one message; 20 ms of G.711 is 160
	talkReadIdle   = 10 * time.Second // the page sends every 20 ms; silence this long ends the talk
	talkWriteWait  = 2 * time.Second  // to send a close frame
	talkCloseWait  = 2 * time.Second  // for the page to answer our close frame
)

// Close codes the page shows (RFC 6455 4000-4999 are ours).
const (
	closeReplaced = 4001 // another talker took over
	closeCamera   = 4002 // the camera's side failed
)

// g711 are the codecs the page can send, by their names in a query.
var g711 = []string{"PCMU", "PCMA"}

// handleTalk serves /api/talk. Everything that can be checked is checked
// before TalkLive, which takes the backchannel from whoever talks: a
// request that would fail anyway must not cut them off.
func (s *Server) handleTalk(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" is not allowed here; open a WebSocket with GET")
		return
	}
	name, ok := streamParam(w, r, "dst", "dst= names the stream whose backchannel the audio goes to")
	if !ok {
		return
	}
	q, _ := urlQuery(r) // streamParam has parsed it already
	want := strings.ToUpper(strings.TrimSpace(q.Get("codec")))
	if want != "" && !slices.Contains(g711, want) {
		writeError(w, http.StatusBadRequest, "codec= is PCMU or PCMA (G.711 at 8 kHz)")
		return
	}
	if !sameOrigin(r) {
		s.log.Info("cross-site talk refused", "stream", name, "origin", r.Header.Get("Origin"), "host", r.Host, "remote", r.RemoteAddr)
		writeError(w, http.StatusForbidden, "cross-site WebSocket refused: the page must come from this host ("+r.Host+")")
		return
	}
	if msg := notWebSocket(r); msg != "" {
		w.Header().Set("Upgrade", "websocket")
		w.Header().Set("Connection", "Upgrade")
		writeError(w, http.StatusUpgradeRequired, msg)
		return
	}
	talker, ok := s.cfg.Backend.(Talker)
	if !ok {
		writeError(w, http.StatusNotImplemented, "talking from the browser is not available")
		return
	}

	lt, err := s.startTalk(r.Context(), talker, name)
	if err != nil {
		s.backendError(w, r, "talk", name, err)
		return
	}
	codec, ok := pickCodec(lt.Codecs(), want)
	if !ok {
		lt.Close()
		msg := fmt.Sprintf("the backchannel takes %s; the page sends only PCMU or PCMA at 8 kHz", strings.Join(lt.Codecs(), ", "))
		status := http.StatusConflict
		if want != "" {
			if _, some := pickCodec(lt.Codecs(), ""); some {
				status, msg = http.StatusBadRequest, fmt.Sprintf("the backchannel does not take %s; it takes %s", want, strings.Join(lt.Codecs(), ", "))
			}
		}
		writeError(w, status, msg)
		return
	}

	up := websocket.Upgrader{
		HandshakeTimeout: readHeaderTimeout,
		ReadBufferSize:   talkMaxMessage,
		WriteBufferSize:  512,
		CheckOrigin:      sameOrigin,
		Error: func(w http.ResponseWriter, _ *http.Request, status int, reason error) {
			writeError(w, status, "WebSocket: "+reason.Error())
		},
	}
	// the guards wrap the ResponseWriter; the upgrade needs the connection
	ws, err := up.Upgrade(hijacker{w}, r, nil)
	if err != nil {
		lt.Close()
		s.log.Info("talk WebSocket not opened", "stream", name, "err", err, "remote", r.RemoteAddr)
		return
	}
	s.log.Info("talking from the browser", "stream", name, "codec", codec, "remote", r.RemoteAddr)
	sent, why := s.serveTalk(r.Context(), ws, lt, codec)
	s.log.Info("browser talk ended", "stream", name, "messages", sent, "why", why, "remote", r.RemoteAddr)
}

// startTalk calls TalkLive within the call bound. A session that comes
// back after the request gave up is closed, not leaked.
func (s *Server) startTalk(ctx context.Context, t Talker, name string) (LiveTalk, error) {
	ctx, cancel := context.WithTimeout(ctx, s.callTimeout)
	defer cancel()
	type result struct {
		lt  LiveTalk
		err error
	}
	ch := make(chan result, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				ch <- result{err: &panicError{val: p, stack: debug.Stack()}}
			}
		}()
		lt, err := t.TalkLive(ctx, name)
		ch <- result{lt, err}
	}()
	select {
	case res := <-ch:
		if res.err == nil && res.lt == nil {
			return nil, errors.New("the backend started no talk")
		}
		return res.lt, res.err
	case <-ctx.Done():
		go func() {
			if res := <-ch; res.lt != nil {
				res.lt.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

// serveTalk passes the socket's messages to lt until one side ends, then
// closes both. It returns the messages written and why it ended.
func (s *Server) serveTalk(ctx context.Context, ws *websocket.Conn, lt LiveTalk, codec string) (int, string) {
	defer lt.Close()
	ws.SetReadLimit(talkMaxMessage)

	// The server closing (or the request's context ending) closes the
	// socket: hijacked connections are not closed by http.Server. So does
	// the session ending by itself, when it says so.
	var ended <-chan struct{}
	ender, _ := lt.(talkEnder)
	if ender != nil {
		ended = ender.Done()
	}
	readerDone := make(chan struct{})
	defer close(readerDone)
	go func() {
		select {
		case <-readerDone:
			return
		case <-ctx.Done():
			closeWith(ws, websocket.CloseGoingAway, "rtspgate is stopping")
		case <-ended:
			code, reason := endReason(ender.Err())
			closeWith(ws, code, reason)
		}
		select {
		case <-readerDone:
		case <-time.After(talkCloseWait):
		}
		_ = ws.Close()
	}()

	sent := 0
	// one buffer for every message: LiveTalk.Write does not keep payload.
	// One byte over the limit, so that gorilla's limit (and its 1009
	// close frame) is what stops a message too big, also a fragmented one.
	buf := make([]byte, talkMaxMessage+1)
	for {
		_ = ws.SetReadDeadline(time.Now().Add(talkReadIdle))
		kind, msg, err := readMessage(ws, buf)
		if err != nil {
			var ce *websocket.CloseError
			why := "connection lost: " + err.Error()
			select {
			case <-ended:
				_, why = endReason(ender.Err())
				_ = ws.Close()
				return sent, why
			default:
			}
			switch {
			case ctx.Err() != nil:
				why = "rtspgate is stopping"
			case errors.As(err, &ce):
				why = fmt.Sprintf("the page closed it (%d)", ce.Code)
			case errors.Is(err, websocket.ErrReadLimit):
				// gorilla has sent the close frame (1009) itself
				why = fmt.Sprintf("a message over %d bytes", talkMaxMessage)
			case isTimeout(err):
				why = "no audio for 10 s"
				closeWith(ws, websocket.ClosePolicyViolation, why)
			}
			_ = ws.Close()
			return sent, why
		}
		if kind != websocket.BinaryMessage {
			s.endTalk(ws, websocket.CloseUnsupportedData, "send audio as binary messages")
			return sent, "a text message"
		}
		if len(msg) == 0 {
			continue
		}
		if err := lt.Write(codec, msg); err != nil {
			code, reason := endReason(err)
			s.endTalk(ws, code, reason)
			return sent, reason
		}
		sent++
	}
}

// readMessage reads the next message into buf, over the socket's read
// limit, instead of a new slice as ws.ReadMessage would.
func readMessage(ws *websocket.Conn, buf []byte) (int, []byte, error) {
	kind, r, err := ws.NextReader()
	if err != nil {
		return kind, nil, err
	}
	n := 0
	for {
		if n == len(buf) {
			// the read limit fails the read first; this only guards buf
			return kind, nil, websocket.ErrReadLimit
		}
		m, err := r.Read(buf[n:])
		n += m
		switch {
		case err == io.EOF:
			return kind, buf[:n], nil
		case err != nil:
			return kind, nil, err
		}
	}
}

// endReason is the close code and reason for a session that ended with
// err.
func endReason(err error) (int, string) {
	switch {
	case errors.Is(err, ErrTalkReplaced):
		return closeReplaced, "replaced by another talker"
	case err == nil:
		return closeCamera, "the talk ended"
	}
	return closeCamera, "the camera's backchannel failed: " + redact.Text(err.Error())
}

// endTalk sends a close frame and waits a moment for the page's answer,
// so that the page sees our reason, then closes the connection.
func (s *Server) endTalk(ws *websocket.Conn, code int, reason string) {
	closeWith(ws, code, reason)
	_ = ws.SetReadDeadline(time.Now().Add(talkCloseWait))
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			break
		}
	}
	_ = ws.Close()
}

// closeWith sends a close frame; safe beside a reader and another
// closeWith (gorilla serialises control frames).
func closeWith(ws *websocket.Conn, code int, reason string) {
	// a close frame's reason is at most 123 bytes
	for len(reason) > 123 {
		_, size := utf8.DecodeLastRuneInString(reason)
		reason = reason[:len(reason)-size]
	}
	_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(talkWriteWait))
}

// pickCodec finds the codec to send in the backchannel's codecs: want, or
// with want "" the first G.711 one. It returns the name as codecs has it.
func pickCodec(codecs []string, want string) (string, bool) {
	for _, c := range codecs {
		name, rate, _ := strings.Cut(c, "/")
		name = strings.ToUpper(name)
		if !slices.Contains(g711, name) || (rate != "" && rate != "8000") {
			continue
		}
		if want == "" || want == name {
			return c, true
		}
	}
	return "", false
}

// sameOrigin: a request without Origin (not a browser) or whose Origin is
// the host the request was sent to. A WebSocket is not covered by the
// cross-origin protection of POSTs, and a page of any site may open one.
func sameOrigin(r *http.Request) bool {
	origin := r.Header.Values("Origin")
	if len(origin) == 0 {
		return true
	}
	if len(origin) > 1 {
		return false
	}
	u, err := url.Parse(origin[0])
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return false // "null" among them
	}
	return strings.EqualFold(u.Host, r.Host)
}

// notWebSocket says what is wrong with r as a WebSocket handshake, "" if
// nothing is: checked before the talk starts, so that a failed upgrade
// cannot end someone else's talk.
func notWebSocket(r *http.Request) string {
	if !websocket.IsWebSocketUpgrade(r) {
		return "this endpoint takes a WebSocket (Connection: Upgrade, Upgrade: websocket)"
	}
	if r.Header.Get("Sec-Websocket-Version") != "13" {
		return "WebSocket version 13 is needed"
	}
	key, err := base64.StdEncoding.DecodeString(r.Header.Get("Sec-Websocket-Key"))
	if err != nil || len(key) != 16 {
		return "a WebSocket key of 16 bytes in base64 is needed"
	}
	return ""
}

// hijacker gives the upgrade the connection under the guards' wrappers,
// which let http.ResponseController reach it.
type hijacker struct{ http.ResponseWriter }

func (h hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(h.ResponseWriter).Hijack()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
