// Package wsconn dials RTSP carried inside a WebSocket, the way some cameras
// offer it (Axis /rtsp-over-websocket, Dahua /rtspoverwebsocket), and gives
// the tunnel back as a plain net.Conn byte stream for gortsplib's client.
//
// Both directions are a byte stream cut into binary messages at arbitrary
// places: a camera may split one RTSP message or interleaved packet over
// several WebSocket messages or put several into one, so Read ignores message
// boundaries. Write sends each call as one binary message.
//
// Text messages are read as data too: in an RTSP tunnel a text message can
// only hold RTSP text (some servers send their answers that way), and
// dropping one would lose an answer and stall the session until its timeout.
//
// Credentials in the ws URL are for the HTTP upgrade only (the RTSP URL's own
// ones go to RTSP): Basic is sent with the first request, and a 401 with a
// Digest challenge is answered once with Digest (RFC 7616). Errors show the
// URL with its password masked.
package wsconn

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rtspgate/rtspgate/internal/redact"
)

const (
	// closeWait bounds Close: the close frame is a courtesy, and a camera
	// that takes nothing must not hold up a reconnect.
	closeWait = time.Second
	// readBuffer is large enough for a burst of video packets per read.
	readBuffer = 64 << 10
)

// subprotocols are offered on the upgrade. "binary" comes first: websockify
// splits the header at commas without trimming spaces, so it only finds the
// first entry; ONVIF cameras expect "rtsp.onvif.org".
func subprotocols() []string { return []string{"binary", "rtsp.onvif.org"} }

// UpgradeError is a WebSocket upgrade the server refused (any answer other
// than 101 Switching Protocols), such as 401 for wrong credentials.
type UpgradeError struct {
	// URL is the ws URL with its password masked.
	URL string
	// StatusCode and Status are the server's answer ("401 Unauthorized").
	StatusCode int
	Status     string
	// Auth says which credentials were sent: "", "Basic" or "Digest".
	Auth string
}

func (e *UpgradeError) Error() string {
	msg := fmt.Sprintf("websocket %s: upgrade refused (%s)", e.URL, e.Status)
	if e.StatusCode == http.StatusUnauthorized {
		switch e.Auth {
		case "":
			msg += ": the server wants credentials; put user:pass@ in the ws URL"
		default:
			msg += ": wrong user or password for the WebSocket (" + e.Auth + ")"
		}
	}
	return msg
}

// Dial opens a WebSocket to wsURL (ws:// or wss://, optionally with
// user:pass@) and returns it as a net.Conn. timeout bounds the whole dial,
// including a Digest retry; 0 leaves it to ctx. tlsConfig is used for wss://
// (nil verifies the certificate against the system roots) and ignored for
// ws://. No HTTP proxy from the environment is used: cameras are reached
// directly.
func Dial(ctx context.Context, wsURL string, timeout time.Duration, tlsConfig *tls.Config) (net.Conn, error) {
	shown := redact.URL(wsURL)
	u, err := url.Parse(wsURL)
	if err != nil {
		// url.Parse quotes the whole input, password included
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		var ee url.EscapeError
		if errors.As(err, &ee) {
			err = errors.New("a bad %-escape") // its text would be 3 bytes of the password
		}
		return nil, fmt.Errorf("websocket %s: bad URL: %w", shown, err)
	}
	if u.Scheme != "ws" && u.Scheme != "wss" {
		return nil, fmt.Errorf("websocket %s: want a ws:// or wss:// URL", shown)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("websocket %s: no host in the URL", shown)
	}
	var user, pass string
	creds := u.User != nil
	if creds {
		user = u.User.Username()
		pass, _ = u.User.Password()
	}
	// gorilla refuses URLs with user info; the credentials go in headers
	u.User = nil
	u.Fragment, u.RawFragment = "", ""
	target := u.String()

	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	d := &websocket.Dialer{
		NetDialContext:  (&net.Dialer{}).DialContext,
		TLSClientConfig: tlsConfig,
		Subprotocols:    subprotocols(),
		ReadBufferSize:  readBuffer,
	}
	hdr := http.Header{}
	auth := ""
	if creds {
		hdr.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+pass)))
		auth = "Basic"
	}
	ws, resp, err := d.DialContext(ctx, target, hdr)
	if err != nil && creds && resp != nil && resp.StatusCode == http.StatusUnauthorized {
		chs := parseChallenges(resp.Header.Values("Www-Authenticate"))
		ch, ok := pickDigest(chs)
		if !ok && slices.ContainsFunc(chs, func(c challenge) bool { return c.scheme == "digest" }) {
			return nil, fmt.Errorf("websocket %s: upgrade refused (%s): its Digest challenge has an algorithm not supported here", shown, resp.Status)
		}
		if ok {
			value, derr := ch.authorization(user, pass, http.MethodGet, u.RequestURI(), newCnonce())
			if derr != nil {
				return nil, fmt.Errorf("websocket %s: upgrade refused (%s) with a Digest challenge: %w", shown, resp.Status, derr)
			}
			hdr.Set("Authorization", value)
			auth = "Digest"
			ws, resp, err = d.DialContext(ctx, target, hdr)
		}
	}
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			return nil, &UpgradeError{URL: shown, StatusCode: resp.StatusCode, Status: resp.Status, Auth: auth}
		}
		// gorilla puts ctx's deadline on the socket, which may fire
		// just before ctx itself says so
		var ne net.Error
		if timeout > 0 && (errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()) {
			return nil, fmt.Errorf("websocket %s: no upgrade within %v: %w", shown, timeout, err)
		}
		return nil, fmt.Errorf("websocket %s: %w", shown, err)
	}
	return &conn{ws: ws}, nil
}

// conn is the tunnel as a byte stream.
type conn struct {
	ws *websocket.Conn

	rmu  sync.Mutex // Reads take turns on the current message
	msg  io.Reader  // the rest of the message being read; nil between
	rerr error      // gorilla's read errors are final (it panics after 1000 retries): keep the first

	wmu sync.Mutex // gorilla allows one writer at a time
	dmu sync.Mutex
	wdl time.Time // write deadline, applied by each Write under wmu

	closeOnce sync.Once
	closeErr  error
}

// Read returns bytes of the incoming messages in order, across message
// boundaries. A read deadline that passes ends reading for good (gorilla
// cannot resume a frame it was cut off in); gortsplib treats it as fatal
// anyway.
func (c *conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for {
		if c.rerr != nil {
			return 0, c.rerr
		}
		if c.msg == nil {
			_, r, err := c.ws.NextReader()
			if err != nil {
				c.rerr = readError(err)
				return 0, c.rerr
			}
			c.msg = r
		}
		n, err := c.msg.Read(p)
		if errors.Is(err, io.EOF) {
			c.msg = nil // the next message continues the stream
			err = nil
		} else if err != nil {
			c.rerr = readError(err)
			if n == 0 {
				return 0, c.rerr
			}
			err = nil // give the bytes first, the error on the next Read
		}
		if n > 0 {
			return n, err
		}
	}
}

// readError makes the end of the WebSocket io.EOF itself, as the end of a
// TCP camera's connection is (io.ReadAll and bufio compare with ==), so that
// callers see "the camera hung up" either way. A close with a code that says
// something went wrong keeps the code, wrapping io.EOF.
func readError(err error) error {
	var ce *websocket.CloseError
	switch {
	case errors.As(err, &ce):
		switch ce.Code {
		case websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseNoStatusReceived:
			return io.EOF
		}
		return fmt.Errorf("the server closed the websocket (%d %s): %w", ce.Code, ce.Text, io.EOF)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return io.EOF // the TCP connection ended without a close frame
	}
	return err
}

// Write sends p as one binary message.
func (c *conn) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil // an empty message carries nothing in a byte stream
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.dmu.Lock()
	dl := c.wdl
	c.dmu.Unlock()
	_ = c.ws.SetWriteDeadline(dl) // gorilla applies it per frame
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close sends a close frame (waiting at most closeWait) and closes the
// connection. Later calls return the first result.
func (c *conn) Close() error {
	c.closeOnce.Do(func() {
		msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
		_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(closeWait))
		c.closeErr = c.ws.Close()
	})
	return c.closeErr
}

func (c *conn) LocalAddr() net.Addr  { return c.ws.LocalAddr() }
func (c *conn) RemoteAddr() net.Addr { return c.ws.RemoteAddr() }

func (c *conn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

func (c *conn) SetReadDeadline(t time.Time) error { return c.ws.SetReadDeadline(t) }

// SetWriteDeadline keeps t for the next Writes and also sets it on the
// socket, so that a Write blocked right now gives up at t too.
func (c *conn) SetWriteDeadline(t time.Time) error {
	c.dmu.Lock()
	c.wdl = t
	c.dmu.Unlock()
	return c.ws.NetConn().SetWriteDeadline(t)
}
