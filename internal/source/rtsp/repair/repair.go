// Package repair sits between a camera's TCP connection and gortsplib's
// client and rewrites RTSP answers that gortsplib would refuse, but that
// common players accept, into a form gortsplib takes. Interleaved RTP/RTCP
// frames, requests from the camera and bytes it does not understand pass
// through unchanged.
//
// Use it from gortsplib.Client.DialContext (or DialTLSContext, wrapping the
// tls.Conn):
//
//	DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
//		c, err := d.DialContext(ctx, network, addr)
//		if err != nil {
//			return nil, err
//		}
//		return repair.Wrap(c, repair.Options{OnQuirk: logQuirk}), nil
//	},
package repair

import (
	"errors"
	"net"
	"sync"

	"github.com/bluenviron/gortsplib/v5/pkg/base"
)

// Quirk names a camera fault the layer repaired; it is human readable and
// stable, e.g. "SETUP answer without interleaved=".
type Quirk string

// Options configures Wrap.
type Options struct {
	// OnQuirk is called the first time each quirk is met on this connection.
	OnQuirk func(q Quirk)
	// OnResponse is called for each response from the camera after repair,
	// with its status code and headers, before gortsplib sees it.
	OnResponse func(res *base.Response)
}

// Limits beyond which a message is handed on untouched and the connection
// becomes a plain pipe: gortsplib then fails on it exactly as without us.
const (
	maxHead    = 64 << 10
	maxBody    = 1 << 20
	readChunk  = 4096
	keepBufCap = 64 << 10
)

// Wrap returns c with camera answers repaired. Close, deadlines and addresses
// are those of c.
func Wrap(c net.Conn, opts Options) net.Conn {
	return &conn{Conn: c, opts: opts}
}

type conn struct {
	net.Conn
	opts Options

	rmu         sync.Mutex
	in          []byte // read from the camera, not yet handed on
	inbuf       []byte // reusable backing of in
	out         []byte // ready to hand on
	frame       frameScanner
	head        headScanner // progress on the message at the front of in
	transparent bool        // gave up parsing: plain pipe from now on
	deferred    error       // error that came with data, returned after it
	rerr        error       // sticky read error, after out is drained

	wmu     sync.Mutex
	writes  writeTracker
	tracker tracker

	qmu  sync.Mutex
	seen map[Quirk]bool
}

// Read implements net.Conn.
func (c *conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()

	for {
		if len(c.out) > 0 {
			n := copy(p, c.out)
			c.out = c.out[n:]
			return n, nil
		}
		if c.rerr != nil {
			return 0, c.rerr
		}

		if len(c.in) == 0 {
			if c.deferred != nil {
				err := c.takeDeferred()
				if isTimeout(err) {
					return 0, err
				}
				c.fail(err)
				continue
			}
			if c.transparent {
				return c.Conn.Read(p)
			}
			// media path: read straight into p and only hop over frame
			// headers; stop where something else starts
			n, err := c.Conn.Read(p)
			k := c.frame.skip(p[:n])
			if k < n {
				c.in = append(c.freshIn(), p[k:n]...)
				c.inbuf = c.in
			}
			if err != nil {
				if k < n || !isTimeout(err) {
					c.deferred = err
				} else if k == 0 {
					return 0, err
				}
			}
			if k > 0 {
				return k, nil
			}
			continue
		}

		if k := c.frame.skip(c.in); k > 0 {
			c.out = c.in[:k]
			c.in = c.in[k:]
			continue
		}
		if c.transparent {
			c.out, c.in = c.in, nil
			continue
		}
		if !c.takeMessage() {
			if err := c.fill(); err != nil {
				if isTimeout(err) {
					return 0, err
				}
				c.fail(err)
			}
		}
	}
}

// freshIn returns an empty in buffer; only called when out is drained, so
// reusing the backing array cannot overwrite bytes still to be handed on.
func (c *conn) freshIn() []byte {
	if cap(c.inbuf) > keepBufCap {
		c.inbuf = nil
	}
	return c.inbuf[:0]
}

func (c *conn) takeDeferred() error {
	err := c.deferred
	c.deferred = nil
	return err
}

// fill reads more camera bytes into in.
func (c *conn) fill() error {
	if c.deferred != nil {
		return c.takeDeferred()
	}
	if cap(c.in)-len(c.in) < readChunk {
		nb := make([]byte, len(c.in), max(2*cap(c.in), len(c.in)+readChunk))
		copy(nb, c.in)
		c.in = nb
		c.inbuf = nb
	}
	n, err := c.Conn.Read(c.in[len(c.in):cap(c.in)])
	c.in = c.in[:len(c.in)+n]
	if n > 0 && err != nil {
		c.deferred = err
		return nil
	}
	return err
}

// fail hands on whatever is buffered as it came and ends reading with err.
func (c *conn) fail(err error) {
	c.out = append(c.out, c.in...)
	c.in = nil
	c.rerr = err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Write implements net.Conn. Our own requests are remembered by CSeq so that
// answers can be matched; the bytes go out unchanged.
func (c *conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.writes.observe(p, &c.tracker)
	return c.Conn.Write(p)
}

// report calls OnQuirk once per quirk and connection.
func (c *conn) report(qs []Quirk) {
	if c.opts.OnQuirk == nil || len(qs) == 0 {
		return
	}
	var fresh []Quirk
	c.qmu.Lock()
	if c.seen == nil {
		c.seen = make(map[Quirk]bool)
	}
	for _, q := range qs {
		if !c.seen[q] {
			c.seen[q] = true
			fresh = append(fresh, q)
		}
	}
	c.qmu.Unlock()
	for _, q := range fresh {
		c.opts.OnQuirk(q)
	}
}

// frameScanner follows interleaved frames ($, channel, 2-byte length,
// payload) across reads without holding any byte back.
type frameScanner struct {
	left   int // payload bytes still to pass
	hdrN   int // header bytes seen of a frame whose header is split
	hdrLen [2]byte
}

// skip returns how many leading bytes of b belong to frames; b[k], if any,
// starts something that is not a frame.
func (f *frameScanner) skip(b []byte) int {
	i := 0
	for i < len(b) {
		switch {
		case f.left > 0:
			n := min(f.left, len(b)-i)
			i += n
			f.left -= n
		case f.hdrN > 0:
			if f.hdrN >= 2 {
				f.hdrLen[f.hdrN-2] = b[i]
			}
			f.hdrN++
			i++
			if f.hdrN == 4 {
				f.hdrN = 0
				f.left = int(f.hdrLen[0])<<8 | int(f.hdrLen[1])
			}
		case b[i] == base.InterleavedFrameMagicByte:
			if len(b)-i >= 4 {
				f.left = int(b[i+2])<<8 | int(b[i+3])
				i += 4
			} else {
				f.hdrN = 1
				i++
			}
		default:
			return i
		}
	}
	return i
}
