package rtspserver

import (
	"net"
	"sync"
	"time"
)

// listener wraps every accepted TCP connection in a *conn, so that readers'
// media can be written by our own batching writer beside gortsplib's
// responses.
type listener struct {
	net.Listener
	writeTimeout time.Duration
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c, nil
	}
	return &conn{TCPConn: tc, writeTimeout: l.writeTimeout}, nil
}

// conn is an accepted RTSP connection. gortsplib writes each response with
// one Write; media goes out in batches with writeBatch. Both take wmu, so a
// response never lands inside an interleaved frame.
type conn struct {
	*net.TCPConn
	writeTimeout time.Duration

	wmu         sync.Mutex
	afterWrite  func() // run once after the next Write (the PLAY response)
	deadlineSet time.Time

	// request state, touched only by gortsplib's connection goroutine
	lastMethod string
	setup      *session // the session of the SETUP being answered
	authed     bool
}

// Write is gortsplib's path: RTSP responses.
func (c *conn) Write(b []byte) (int, error) {
	c.wmu.Lock()
	n, err := c.TCPConn.Write(b)
	fn := c.afterWrite
	c.afterWrite = nil
	c.wmu.Unlock()
	if fn != nil && err == nil {
		fn()
	}
	return n, err
}

// armAfterWrite runs fn after the next response is on the wire.
func (c *conn) armAfterWrite(fn func()) {
	c.wmu.Lock()
	c.afterWrite = fn
	c.wmu.Unlock()
}

// writeBatch sends media with one write or writev. The deadline is refreshed at most
// once a second: a reader that cannot take data for writeTimeout is dropped.
func (c *conn) writeBatch(bufs *net.Buffers) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	now := time.Now()
	if now.Sub(c.deadlineSet) > time.Second {
		if err := c.TCPConn.SetWriteDeadline(now.Add(c.writeTimeout)); err != nil {
			return err
		}
		c.deadlineSet = now
	}
	if len(*bufs) == 1 {
		_, err := c.TCPConn.Write((*bufs)[0]) // write is cheaper than a writev of one
		return err
	}
	_, err := bufs.WriteTo(c.TCPConn)
	return err
}

// SetWriteDeadline is called by gortsplib before each response; it shares
// the deadline with the media path.
func (c *conn) SetWriteDeadline(t time.Time) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.deadlineSet = time.Now()
	return c.TCPConn.SetWriteDeadline(t)
}

func isLoopback(a net.Addr) bool {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.IsLoopback()
	}
	return false
}
