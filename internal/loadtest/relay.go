package loadtest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

const (
	relayDefaultQueue = 256
	// relayMaxPending bounds the bytes collected while waiting for a marker.
	relayMaxPending = 16 << 20
	relayPublic     = "Public: OPTIONS, DESCRIBE, ANNOUNCE, SETUP, PLAY, RECORD, GET_PARAMETER, SET_PARAMETER, TEARDOWN"
)

// Relay is the floor a real server is compared against: a byte relay that
// speaks just enough RTSP over TCP for one publisher (ANNOUNCE/SETUP/RECORD)
// and many readers (DESCRIBE/SETUP/PLAY), whatever the path. It collects the
// publisher's interleaved frames until an RTP packet with the marker bit on
// channel 0 (the video of a gortsplib publisher) and writes those bytes, as
// they came, once to every reader with one Write. Nothing else is parsed:
// readers must set up the channels the publisher used (0-1, 2-3, …), and a
// reader whose queue is full is dropped.
type Relay struct {
	// QueueFrames bounds each reader's queue, in frames; 256 if 0.
	QueueFrames int
	// Logger receives connection events; slog.Default() if nil.
	Logger *slog.Logger

	mu        sync.Mutex
	closed    bool
	conns     map[net.Conn]struct{}
	sdp       []byte
	announcer net.Conn
	readers   map[*relayReader]struct{}

	frames        atomic.Int64
	bytes         atomic.Int64
	droppedReader atomic.Int64
}

// RelayStats are the relay's counters.
type RelayStats struct {
	Frames, Bytes, DroppedReaders int64
}

// Stats returns the frames and bytes received from the publisher and the
// number of readers dropped for a full queue.
func (r *Relay) Stats() RelayStats {
	return RelayStats{Frames: r.frames.Load(), Bytes: r.bytes.Load(), DroppedReaders: r.droppedReader.Load()}
}

// relayReader is a reader after PLAY: everything written to it goes through
// its queue, drained by one writer goroutine.
type relayReader struct {
	conn  net.Conn
	queue chan []byte
	done  chan struct{}
	once  sync.Once
}

func (rd *relayReader) stop() {
	rd.once.Do(func() {
		close(rd.done)
		rd.conn.Close()
	})
}

// enqueue queues b without blocking; a full queue drops the reader.
func (rd *relayReader) enqueue(b []byte) bool {
	select {
	case rd.queue <- b:
		return true
	default:
		rd.stop()
		return false
	}
}

func (rd *relayReader) writeLoop() {
	for {
		select {
		case b := <-rd.queue:
			if _, err := rd.conn.Write(b); err != nil {
				rd.stop()
				return
			}
		case <-rd.done:
			return
		}
	}
}

// Serve accepts connections on ln until ctx ends, then closes them all and
// waits for their goroutines.
func (r *Relay) Serve(ctx context.Context, ln net.Listener) error {
	if r.Logger == nil {
		r.Logger = slog.Default()
	}
	if r.QueueFrames <= 0 {
		r.QueueFrames = relayDefaultQueue
	}
	r.mu.Lock()
	r.conns = make(map[net.Conn]struct{})
	r.readers = make(map[*relayReader]struct{})
	r.mu.Unlock()

	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		r.mu.Lock()
		r.closed = true
		for c := range r.conns {
			c.Close()
		}
		r.mu.Unlock()
	})
	defer stop()

	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			conn.Close()
			continue
		}
		r.conns[conn] = struct{}{}
		r.mu.Unlock()
		wg.Go(func() {
			defer func() {
				r.mu.Lock()
				delete(r.conns, conn)
				r.mu.Unlock()
				conn.Close()
			}()
			err := r.handleConn(conn)
			r.Logger.Debug("relay: connection closed", "peer", conn.RemoteAddr(), "err", err)
		})
	}
}

// relayConn is the state of one connection before it publishes or plays.
type relayConn struct {
	r       *Relay
	conn    net.Conn
	br      *bufio.Reader
	session string
	reader  *relayReader
	readerW sync.WaitGroup
}

func (r *Relay) handleConn(conn net.Conn) error {
	c := &relayConn{r: r, conn: conn, br: bufio.NewReaderSize(conn, 64<<10), session: newSessionID()}
	defer c.cleanup()

	for {
		b, err := c.br.Peek(1)
		if err != nil {
			return err
		}
		if b[0] == '$' { // RTCP from a reader
			if err := skipInterleavedFrame(c.br); err != nil {
				return err
			}
			continue
		}
		req, err := readRTSPMessage(c.br)
		if err != nil {
			return err
		}
		method, url, ok := req.request()
		if !ok {
			return fmt.Errorf("bad request line %q", req.startLine)
		}
		done, err := c.handleRequest(req, method, url)
		if err != nil || done {
			return err
		}
	}
}

// handleRequest answers one request; done means the connection is over
// (TEARDOWN, or RECORD whose stream has ended).
func (c *relayConn) handleRequest(req *rtspMessage, method, url string) (bool, error) {
	r := c.r
	cseq := req.get("CSeq")
	switch method {
	case "OPTIONS", "GET_PARAMETER", "SET_PARAMETER":
		return false, c.respond(cseq, "200 OK", relayPublic)

	case "ANNOUNCE":
		r.mu.Lock()
		busy := r.announcer != nil
		if !busy {
			r.sdp = slices.Clone(req.body)
			r.announcer = c.conn
		}
		r.mu.Unlock()
		if busy {
			return false, c.respond(cseq, "503 Service Unavailable")
		}
		r.Logger.Info("relay: publisher announced", "peer", c.conn.RemoteAddr(), "path", url)
		return false, c.respond(cseq, "200 OK")

	case "DESCRIBE":
		r.mu.Lock()
		sdp := r.sdp
		r.mu.Unlock()
		if sdp == nil {
			return false, c.respond(cseq, "404 Not Found")
		}
		if !strings.HasSuffix(url, "/") {
			url += "/"
		}
		return false, c.respondBody(cseq, "200 OK", sdp, "Content-Base: "+url, "Content-Type: application/sdp")

	case "SETUP":
		tr := req.get("Transport")
		if _, _, ok := interleavedChannels(tr); !ok || !strings.Contains(tr, "TCP") {
			return false, c.respond(cseq, "461 Unsupported Transport")
		}
		return false, c.respond(cseq, "200 OK", "Transport: "+tr, "Session: "+c.session+";timeout=60")

	case "RECORD":
		r.mu.Lock()
		mine := r.announcer == c.conn
		r.mu.Unlock()
		if !mine {
			return false, c.respond(cseq, "455 Method Not Valid in This State")
		}
		if err := c.respond(cseq, "200 OK", "Session: "+c.session); err != nil {
			return true, err
		}
		return true, c.publish()

	case "PLAY":
		r.mu.Lock()
		ok := r.sdp != nil && c.reader == nil
		r.mu.Unlock()
		if !ok {
			return false, c.respond(cseq, "455 Method Not Valid in This State")
		}
		// The response goes out before the reader is registered, so that no
		// media precedes it.
		if err := c.respond(cseq, "200 OK", "Session: "+c.session, "Range: npt=0.000-"); err != nil {
			return true, err
		}
		c.startReader()
		return false, nil

	case "TEARDOWN":
		return true, c.respond(cseq, "200 OK", "Session: "+c.session)

	default:
		return false, c.respond(cseq, "501 Not Implemented")
	}
}

func (c *relayConn) respond(cseq, status string, header ...string) error {
	return c.respondBody(cseq, status, nil, header...)
}

// respondBody writes a response: on the socket before PLAY, through the
// reader's queue after, so that it never lands inside a frame.
func (c *relayConn) respondBody(cseq, status string, body []byte, header ...string) error {
	msg := formatMessage("RTSP/1.0 "+status, append([]string{"CSeq: " + cseq, "Server: rtspgate-load relay"}, header...), body)
	if c.reader != nil {
		if !c.reader.enqueue(msg) {
			return errors.New("reader queue full")
		}
		return nil
	}
	_, err := c.conn.Write(msg)
	return err
}

func (c *relayConn) startReader() {
	rd := &relayReader{conn: c.conn, queue: make(chan []byte, c.r.QueueFrames), done: make(chan struct{})}
	c.reader = rd
	c.readerW.Go(rd.writeLoop)
	c.r.mu.Lock()
	if c.r.sdp == nil || c.r.closed {
		rd.stop()
	} else {
		c.r.readers[rd] = struct{}{}
	}
	c.r.mu.Unlock()
}

// cleanup stops the reader or, for the announcer, ends the stream and drops
// every reader.
func (c *relayConn) cleanup() {
	r := c.r
	r.mu.Lock()
	if c.reader != nil {
		delete(r.readers, c.reader)
	}
	if r.announcer == c.conn {
		r.announcer, r.sdp = nil, nil
		for rd := range r.readers {
			rd.stop()
		}
	}
	r.mu.Unlock()
	if c.reader != nil {
		c.reader.stop()
		c.readerW.Wait()
	}
}

// publish reads the publisher's interleaved frames and requests until the
// connection ends.
func (c *relayConn) publish() error {
	r := c.r
	pending := make([]byte, 0, 512<<10)
	for {
		hdr, err := c.br.Peek(4)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if hdr[0] != '$' {
			req, err := readRTSPMessage(c.br)
			if err != nil {
				return err
			}
			method, _, ok := req.request()
			if !ok {
				continue // a response to nothing we sent
			}
			switch method {
			case "TEARDOWN":
				return c.respond(req.get("CSeq"), "200 OK", "Session: "+c.session)
			case "OPTIONS", "GET_PARAMETER", "SET_PARAMETER":
				err = c.respond(req.get("CSeq"), "200 OK", relayPublic)
			default:
				err = c.respond(req.get("CSeq"), "455 Method Not Valid in This State")
			}
			if err != nil {
				return err
			}
			continue
		}

		ch := hdr[1]
		n := int(binary.BigEndian.Uint16(hdr[2:]))
		start := len(pending)
		pending = slices.Grow(pending, 4+n)[:start+4+n]
		if _, err := io.ReadFull(c.br, pending[start:]); err != nil {
			return err
		}
		marker := ch == 0 && n >= 2 && pending[start+5]&0x80 != 0
		if marker || len(pending) >= relayMaxPending {
			r.fanout(slices.Clone(pending))
			pending = pending[:0]
		}
	}
}

func (r *Relay) fanout(frame []byte) {
	r.frames.Add(1)
	r.bytes.Add(int64(len(frame)))
	r.mu.Lock()
	defer r.mu.Unlock()
	for rd := range r.readers {
		if !rd.enqueue(frame) {
			delete(r.readers, rd)
			r.droppedReader.Add(1)
			r.Logger.Warn("relay: reader dropped, queue full", "peer", rd.conn.RemoteAddr())
		}
	}
}

func newSessionID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
