package loadtest

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/auth"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/sdpunmarshaler"
)

const (
	readerBufferSize = 32 << 10
	readerUserAgent  = "rtspgate-load"
	maxReaderMedias  = 8
	// maxFrameCounter bounds the per-reader frame bitset (10 min at 30 fps
	// is 18,000 frames).
	maxFrameCounter = 1 << 22
)

// window is shared by Run and its readers: the start of the measured window
// in Unix nanoseconds, 0 while warming up.
type window struct {
	startNanos atomic.Int64
}

// readerConfig is what all readers of a run share.
type readerConfig struct {
	// url is the stream to read, with credentials if any.
	url              *base.URL
	win              *window
	keepalive        time.Duration
	handshakeTimeout time.Duration
	// udp makes the reader ask for RTP over UDP (udpreader.go) instead of
	// interleaved TCP.
	udp bool
}

// readerResult is what one reader measured.
type readerResult struct {
	// connected tells whether PLAY succeeded.
	connected bool
	// err is why the reader stopped before being told to, or why it could
	// not connect.
	err error
	// frames holds the frame counters seen; first is the smallest, -1 if none.
	frames bitset
	first  int64
	// latency holds send-to-complete-frame times of frames sent in the window.
	latency Histogram
	// gaps is the number of RTP packets missing (by sequence number) during
	// the window, all channels together.
	gaps      int64
	packets   int64
	bytes     int64
	malformed int64
}

type channelKind uint8

const (
	channelUnused channelKind = iota
	channelRTPVideo
	channelRTPOther
)

type readerChannel struct {
	kind    channelKind
	seen    bool
	lastSeq uint16
}

// rawReader is a minimal RTSP client: OPTIONS, DESCRIBE, SETUP of every
// media, PLAY, then it reads interleaved frames (or, with cfg.udp, RTP
// datagrams) until its context ends. It answers nothing and sends only a
// GET_PARAMETER keepalive.
type rawReader struct {
	cfg     *readerConfig
	conn    net.Conn
	br      *bufio.Reader
	cseq    int
	session string
	sender  *auth.Sender
	chans   [256]readerChannel
	udp     []*udpMedia
	sei     seiScanner
	scratch []byte
	pending struct {
		active    bool
		ts        uint32
		sendNanos int64
	}
	res readerResult
}

// runReader connects, plays and reads until ctx ends. ready is called once,
// when PLAY succeeded (nil) or the reader gave up.
func runReader(ctx context.Context, cfg *readerConfig, ready func(error)) *readerResult {
	r := &rawReader{cfg: cfg}
	r.res.first = -1
	err := r.run(ctx, ready)
	if ctx.Err() == nil || !r.res.connected {
		r.res.err = err
	}
	return &r.res
}

func (r *rawReader) run(ctx context.Context, ready func(error)) error {
	signal := func(err error) {
		if ready != nil {
			ready(err)
			ready = nil
		}
	}
	defer signal(errors.New("reader ended before PLAY"))

	host := r.cfg.url.Host
	if r.cfg.url.Port() == "" {
		host = net.JoinHostPort(r.cfg.url.Hostname(), "554")
	}
	d := net.Dialer{Timeout: r.cfg.handshakeTimeout}
	conn, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		signal(err)
		return err
	}
	r.conn = conn
	defer conn.Close()
	defer func() {
		for _, m := range r.udp {
			m.close()
		}
	}()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	r.br = bufio.NewReaderSize(conn, readerBufferSize)
	conn.SetDeadline(time.Now().Add(r.cfg.handshakeTimeout))
	playURL, err := r.handshake()
	if err != nil {
		signal(err)
		return err
	}
	conn.SetDeadline(time.Time{})
	r.res.connected = true
	signal(nil)

	var wg sync.WaitGroup
	kaCtx, kaCancel := context.WithCancel(ctx)
	wg.Go(func() { r.keepalive(kaCtx, playURL) })
	defer wg.Wait()
	defer kaCancel()

	if r.cfg.udp {
		return r.readUDP(ctx)
	}
	return r.readLoop()
}

// handshake runs OPTIONS … PLAY and returns the URL used for PLAY.
func (r *rawReader) handshake() (*base.URL, error) {
	reqURL := r.cfg.url.CloneWithoutCredentials()
	if _, err := r.do("OPTIONS", reqURL); err != nil {
		return nil, err
	}
	resp, err := r.do("DESCRIBE", reqURL, "Accept: application/sdp")
	if err != nil {
		return nil, err
	}

	baseURL := reqURL
	for _, h := range []string{"Content-Base", "Content-Location"} {
		if v := resp.get(h); v != "" {
			u, err := base.ParseURL(v)
			if err != nil {
				return nil, fmt.Errorf("DESCRIBE: bad %s %q: %w", h, v, err)
			}
			baseURL = u
			break
		}
	}
	ssd, err := sdpunmarshaler.Unmarshal(resp.body)
	if err != nil {
		return nil, fmt.Errorf("DESCRIBE: bad SDP: %w", err)
	}
	var desc description.Session
	if err := desc.Unmarshal2(ssd); err != nil {
		return nil, fmt.Errorf("DESCRIBE: bad SDP: %w", err)
	}
	if len(desc.Medias) == 0 || len(desc.Medias) > maxReaderMedias {
		return nil, fmt.Errorf("DESCRIBE: %d medias", len(desc.Medias))
	}

	hasVideo := false
	for i, m := range desc.Medias {
		mu, err := m.URL(baseURL)
		if err != nil {
			return nil, fmt.Errorf("SETUP: media %d: %w", i, err)
		}
		transport := fmt.Sprintf("Transport: RTP/AVP/TCP;unicast;interleaved=%d-%d", 2*i, 2*i+1)
		var um *udpMedia
		if r.cfg.udp {
			if um, transport, err = r.setupUDP(); err != nil {
				return nil, err
			}
		}
		resp, err := r.do("SETUP", mu, transport)
		if err != nil {
			return nil, err
		}
		if r.session == "" {
			s, _, _ := strings.Cut(resp.get("Session"), ";")
			r.session = strings.TrimSpace(s)
			if r.session == "" {
				return nil, errors.New("SETUP: no Session header")
			}
		}
		kind := channelRTPOther
		var h264 *format.H264
		if m.Type == description.MediaTypeVideo && m.FindFormat(&h264) && !hasVideo {
			kind, hasVideo = channelRTPVideo, true
		}
		if um != nil {
			if err := checkUDPTransport(resp.get("Transport")); err != nil {
				return nil, err
			}
			um.ch.kind = kind
			continue
		}
		ch, _, ok := interleavedChannels(resp.get("Transport"))
		if !ok {
			ch = 2 * i
		}
		r.chans[ch].kind = kind
	}
	if !hasVideo {
		return nil, errors.New("DESCRIBE: no H.264 video media")
	}

	if _, err := r.do("PLAY", baseURL, "Range: npt=0.000-"); err != nil {
		return nil, err
	}
	return baseURL, nil
}

// do sends a request and waits for its response, answering one 401 with the
// URL's credentials. Any status but 200 is an error.
func (r *rawReader) do(method string, u *base.URL, extra ...string) (*rtspMessage, error) {
	for try := 0; ; try++ {
		if _, err := r.conn.Write(r.request(method, u, extra...)); err != nil {
			return nil, fmt.Errorf("%s: %w", method, err)
		}
		resp, err := r.readResponse()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", method, err)
		}
		code := resp.statusCode()
		if code == 401 && try == 0 && r.sender == nil && r.cfg.url.User != nil {
			pass, _ := r.cfg.url.User.Password()
			s := &auth.Sender{
				WWWAuth: base.HeaderValue(resp.header["www-authenticate"]),
				User:    r.cfg.url.User.Username(),
				Pass:    pass,
			}
			if err := s.Initialize(); err != nil {
				return nil, fmt.Errorf("%s: 401: %w", method, err)
			}
			r.sender = s
			continue
		}
		if code != 200 {
			return nil, fmt.Errorf("%s %s: %s", method, u, resp.startLine)
		}
		return resp, nil
	}
}

func (r *rawReader) request(method string, u *base.URL, extra ...string) []byte {
	r.cseq++
	hdr := make([]string, 0, 4+len(extra))
	hdr = append(hdr, "CSeq: "+strconv.Itoa(r.cseq), "User-Agent: "+readerUserAgent)
	if r.session != "" {
		hdr = append(hdr, "Session: "+r.session)
	}
	if r.sender != nil {
		req := base.Request{Method: base.Method(method), URL: u}
		r.sender.AddAuthorization(&req)
		hdr = append(hdr, "Authorization: "+req.Header["Authorization"][0])
	}
	hdr = append(hdr, extra...)
	return formatMessage(method+" "+u.String()+" RTSP/1.0", hdr, nil)
}

// readResponse returns the response to the last request, skipping
// interleaved frames, server requests and stale responses.
func (r *rawReader) readResponse() (*rtspMessage, error) {
	for {
		b, err := r.br.Peek(1)
		if err != nil {
			return nil, err
		}
		if b[0] == '$' {
			if err := skipInterleavedFrame(r.br); err != nil {
				return nil, err
			}
			continue
		}
		m, err := readRTSPMessage(r.br)
		if err != nil {
			return nil, err
		}
		if m.statusCode() == 0 || m.get("CSeq") != strconv.Itoa(r.cseq) {
			continue
		}
		return m, nil
	}
}

// keepalive sends GET_PARAMETER every cfg.keepalive. It owns r.cseq and
// writes to the connection while readLoop reads from it.
func (r *rawReader) keepalive(ctx context.Context, u *base.URL) {
	t := time.NewTicker(r.cfg.keepalive)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := r.conn.Write(r.request("GET_PARAMETER", u)); err != nil {
			r.conn.Close()
			return
		}
	}
}

// readLoop reads interleaved frames until the connection fails or is closed.
// Responses (to keepalives) and server requests are read and ignored.
func (r *rawReader) readLoop() error {
	for {
		hdr, err := r.br.Peek(4)
		if err != nil {
			return err
		}
		if hdr[0] != '$' {
			if _, err := readRTSPMessage(r.br); err != nil {
				return err
			}
			continue
		}
		ch := hdr[1]
		n := int(binary.BigEndian.Uint16(hdr[2:]))
		var pkt []byte
		if 4+n <= readerBufferSize {
			b, err := r.br.Peek(4 + n)
			if err != nil {
				return err
			}
			pkt = b[4:]
		} else {
			r.br.Discard(4)
			if cap(r.scratch) < n {
				r.scratch = make([]byte, n)
			}
			r.scratch = r.scratch[:n]
			if _, err := io.ReadFull(r.br, r.scratch); err != nil {
				return err
			}
			pkt = r.scratch
		}
		r.res.packets++
		r.res.bytes += int64(n)
		if r.chans[ch].kind != channelUnused {
			r.handleRTP(&r.chans[ch], pkt)
		}
		if 4+n <= readerBufferSize {
			r.br.Discard(4 + n)
		}
	}
}

func (r *rawReader) handleRTP(c *readerChannel, pkt []byte) {
	if len(pkt) < 12 || pkt[0]>>6 != 2 {
		r.res.malformed++
		return
	}
	winStart := r.cfg.win.startNanos.Load()

	seq := binary.BigEndian.Uint16(pkt[2:4])
	if c.seen {
		// Missing packets since the last one; a packet older than the last
		// (reordered or duplicated) wraps to >= 0x8000 and is ignored.
		if d := seq - c.lastSeq - 1; d < 0x8000 {
			if d != 0 && winStart != 0 {
				r.res.gaps += int64(d)
			}
			c.lastSeq = seq
		}
	} else {
		c.seen, c.lastSeq = true, seq
	}
	if c.kind != channelRTPVideo {
		return
	}

	off := 12 + 4*int(pkt[0]&0x0f)
	if pkt[0]&0x10 != 0 { // header extension
		if len(pkt) < off+4 {
			r.res.malformed++
			return
		}
		off += 4 + 4*int(binary.BigEndian.Uint16(pkt[off+2:]))
	}
	end := len(pkt)
	if pkt[0]&0x20 != 0 { // padding
		end -= int(pkt[end-1])
	}
	if off > end {
		r.res.malformed++
		return
	}
	ts := binary.BigEndian.Uint32(pkt[4:8])

	if st, ok := r.sei.scan(pkt[off:end]); ok && st.Counter < maxFrameCounter {
		if r.res.frames.set(st.Counter) {
			if r.res.first < 0 || int64(st.Counter) < r.res.first {
				r.res.first = int64(st.Counter)
			}
			r.pending.active, r.pending.ts, r.pending.sendNanos = true, ts, st.SendNanos
		}
	}

	// A frame is complete with its marker packet: that is when latency is
	// taken, so that it covers the transfer of the whole frame.
	if pkt[1]&0x80 != 0 && r.pending.active && r.pending.ts == ts {
		r.pending.active = false
		if winStart != 0 && r.pending.sendNanos >= winStart {
			r.res.latency.Record(time.Duration(time.Now().UnixNano() - r.pending.sendNanos))
		}
	}
}

// bitset is a growable set of small non-negative integers.
type bitset []uint64

// set adds i and reports whether it was missing.
func (b *bitset) set(i uint64) bool {
	w := int(i / 64)
	if w >= len(*b) {
		*b = append(*b, make([]uint64, w+1-len(*b)+len(*b)/2)...)
	}
	m := uint64(1) << (i % 64)
	if (*b)[w]&m != 0 {
		return false
	}
	(*b)[w] |= m
	return true
}

func (b bitset) has(i uint64) bool {
	w := int(i / 64)
	return w < len(b) && b[w]&(uint64(1)<<(i%64)) != 0
}

// countRange counts the members in [lo, hi].
func (b bitset) countRange(lo, hi uint64) int {
	n := 0
	for i := lo; i <= hi; i++ {
		if b.has(i) {
			n++
		}
	}
	return n
}
