package rtspserver

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"

	"github.com/rtspgate/rtspgate/internal/stream"
)

// session is one PLAY reader.
type session struct {
	srv      *Server
	ss       *gortsplib.ServerSession
	ms       *mediaSet
	peer     string
	log      *slog.Logger
	channels map[*description.Media]int // TCP interleaved RTP channel per media
	// UDP: the client's RTP and RTCP ports per media, and the address it
	// set up from (gortsplib's too)
	ports  map[*description.Media][2]int
	client *net.TCPAddr
	hold   func() // keeps the tracks' sources up between SETUP and PLAY
	gop    int    // the query's gop=: 1 on, 0 off, -1 not set

	// pendingStart starts media once the PLAY response is written.
	pendingStart func()

	mu      sync.Mutex
	reader  *stream.Reader
	started bool
	closed  bool
	cancel  context.CancelFunc
	since   time.Time // first PLAY
	talk    *rtspTalk // the reader talks on the backchannel

	sent sentCounts // media written to the reader
	tr   string     // transport, once playing: "TCP" or "UDP"
}

// sentCounts are what a writer sent: bytes and RTP packets.
type sentCounts struct {
	bytes, packets atomic.Uint64
}

func newReaderSession(srv *Server, ss *gortsplib.ServerSession, ms *mediaSet, peer, query string) *session {
	return &session{
		gop:      gopQuery(query),
		srv:      srv,
		ss:       ss,
		ms:       ms,
		peer:     peer,
		log:      srv.log.With("stream", ms.st.Name, "peer", peer),
		channels: map[*description.Media]int{},
		ports:    map[*description.Media][2]int{},
		hold:     ms.st.Hold(ms.tracks),
	}
}

// setupDone records where the media just set up goes (its interleaved
// channel, or the client's UDP ports and address) and announces the SSRC our
// packets carry.
func (sess *session) setupDone(res *base.Response, from net.Addr) {
	medias := sess.ss.Medias()
	if len(medias) == 0 {
		return
	}
	m := medias[len(medias)-1]
	pos := sess.ms.position(m)
	if pos < 0 {
		return
	}
	th, err := transportOf(res)
	if err != nil {
		return
	}
	switch ta, _ := from.(*net.TCPAddr); {
	case th.InterleavedIDs != nil:
		sess.channels[m] = th.InterleavedIDs[0]
	case th.ClientPorts != nil && ta != nil:
		sess.ports[m] = *th.ClientPorts
		if sess.client == nil {
			sess.client = ta
		}
	default:
		return
	}
	ssrc := sess.ms.tracks[pos].SSRC
	th.SSRC = &ssrc
	res.Header["Transport"] = th.Marshal()
}

// play prepares the reader; media starts after the PLAY response.
func (sess *session) play(c *conn) error {
	tr := sess.ss.Transport()
	if tr == nil {
		return errors.New("no transport")
	}
	var tracks []*stream.Track
	var medias []*description.Media
	talks := false
	for _, m := range sess.ss.Medias() {
		if pos := sess.ms.position(m); pos >= 0 {
			tracks = append(tracks, sess.ms.tracks[pos])
			medias = append(medias, m)
		}
		talks = talks || m == sess.ms.bc // bc is nil when the stream has none
	}
	if len(tracks) == 0 && !talks {
		return errors.New("nothing set up")
	}
	if !sess.ms.valid() {
		return stream.ErrTrackEnded
	}
	var run func(ctx context.Context, r *stream.Reader)
	switch tr.Protocol {
	case gortsplib.ProtocolTCP:
		if c == nil {
			return errors.New("connection is not ours")
		}
		chans := make([]byte, len(tracks))
		for i, m := range medias {
			ch, ok := sess.channels[m]
			if !ok {
				return errors.New("no interleaved channel")
			}
			chans[i] = byte(ch)
		}
		run = func(ctx context.Context, r *stream.Reader) {
			sess.srv.votes.add(tracks, chans, 1)
			defer sess.srv.votes.add(tracks, chans, -1)
			sess.end(r, writeTCP(ctx, r, c, chans, &sess.sent))
		}
	case gortsplib.ProtocolUDP:
		out := sess.srv.udp
		if out == nil || sess.client == nil && len(tracks) > 0 {
			return errors.New("UDP is off")
		}
		dst := make([]udpDest, len(tracks))
		for i, m := range medias {
			ports, ok := sess.ports[m]
			if !ok {
				return errors.New("no client ports")
			}
			ip, zone := sess.client.IP, sess.client.Zone
			dst[i] = udpDest{
				rtp:  &net.UDPAddr{IP: ip, Port: ports[0], Zone: zone},
				rtcp: &net.UDPAddr{IP: ip, Port: ports[1], Zone: zone},
			}
		}
		drops := newDropNote(sess.ms.st, sess.log)
		run = func(ctx context.Context, r *stream.Reader) {
			sess.end(r, writeUDP(ctx, r, out, dst, &sess.sent, drops))
		}
	default:
		return errors.New("transport not served: " + tr.Protocol.String())
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if sess.closed {
		return errors.New("session closed")
	}
	if talks && sess.talk == nil {
		sess.talk = startTalk(sess.ms.st, sess.ss, sess.ms.bc, sess.log)
	}
	if sess.reader != nil || len(tracks) == 0 {
		return nil // already playing (a PLAY again changes nothing), or only talking
	}
	var r *stream.Reader
	if sess.gop < 0 {
		r = sess.ms.st.NewReader(tracks)
	} else {
		r = sess.ms.st.NewReaderAt(tracks, sess.gop == 1)
	}
	sess.reader = r
	if sess.since.IsZero() {
		sess.since = time.Now()
		sess.tr = tr.Protocol.String()
		sess.srv.addConsumer(sess)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sess.cancel = cancel
	sess.pendingStart = func() {
		sess.mu.Lock()
		defer sess.mu.Unlock()
		if sess.closed || sess.reader != r {
			return
		}
		sess.started = true
		go run(ctx, r)
	}
	sess.log.Info("reader started", "transport", tr.Protocol.String(), "tracks", stream.Describe(tracks))
	return nil
}

// end is called by the writer goroutine of r when it stops.
func (sess *session) end(r *stream.Reader, err error) {
	r.Close()
	var ne net.Error
	switch {
	case err == nil, errors.Is(err, context.Canceled):
		return
	case errors.Is(err, stream.ErrLagged):
		// behind by a whole ring
		sess.ms.st.CountDrop(stream.DropReaderSlow)
		sess.log.Warn("reader dropped: it fell behind the stream", "reason", err)
	case errors.As(err, &ne) && ne.Timeout():
		// the write deadline passed: its socket took nothing for that long
		sess.ms.st.CountDrop(stream.DropReaderStuck)
		sess.log.Warn("reader dropped: its connection took nothing for the write timeout", "reason", err)
	case errors.Is(err, stream.ErrTrackEnded), errors.Is(err, stream.ErrStreamClosed):
		sess.log.Info("reader closed", "reason", err)
	default:
		sess.log.Info("reader dropped", "reason", err)
	}
	sess.ss.Close()
}

// pause stops media; the next PLAY starts a new reader at a keyframe. It
// does not wait for the writer (a batch already under way may still follow
// the PAUSE answer): waiting made GStreamer's rtspsrc, which sends PAUSE and
// TEARDOWN while it stops reading, fail its shutdown under load.
func (sess *session) pause() {
	sess.mu.Lock()
	sess.stopReader()
	sess.pendingStart = nil
	sess.mu.Unlock()
}

// stopReader ends the current reader; sess.mu held.
func (sess *session) stopReader() {
	if sess.cancel != nil {
		sess.cancel()
		sess.cancel = nil
	}
	if sess.reader != nil {
		if sess.started {
			sess.reader.Kick() // its goroutine closes it
		} else {
			sess.reader.Close()
		}
	}
	sess.reader = nil
	sess.started = false
}

func (sess *session) close(err error) {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if sess.closed {
		return
	}
	sess.closed = true
	sess.srv.removeConsumer(sess)
	sess.stopReader()
	if sess.talk != nil {
		sess.talk.stop()
	}
	sess.hold()
	if !sess.since.IsZero() {
		args := []any{"stayed", time.Since(sess.since).Round(time.Millisecond), "bytes", sess.sent.bytes.Load(), "reason", err}
		if sess.tr == gortsplib.ProtocolUDP.String() {
			// its receiver reports keep a UDP session from timing out
			args = append(args, "rtcp_in", sess.ss.Stats().InboundRTCPPackets)
		}
		sess.log.Info("reader left", args...)
	} else {
		sess.log.Debug("session closed", "reason", err)
	}
}

// batchWriter sends a batch of buffers in one call (*conn: one writev).
type batchWriter interface {
	writeBatch(bufs *net.Buffers) error
}

// writeTCP is the TCP fan-out path: every packet that arrived since the last
// wake goes out in one write. Packets lie framed (see Frame) and adjacent in
// memory, so a reader on the channels its track is framed with sends the
// whole run as one buffer; others get a 4-byte header of their own per
// packet and one writev.
// Sender reports go first when one is due, so a player has the clock of each
// track before its first packet.
func writeTCP(ctx context.Context, r *stream.Reader, c batchWriter, chans []byte, sent *sentCounts) error {
	var (
		pkts    = make([]*stream.Packet, 0, 64)
		hdrs    = make([]byte, 0, 4*64)
		bufs    = make(net.Buffers, 0, 2*64)
		reports = newSenderReports(len(chans))
		out     = new(net.Buffers) // one allocation, not one per batch
		err     error
	)
	for {
		if pkts, err = nextBatch(ctx, r, pkts); err != nil {
			return err
		}
		bufs = bufs[:0]
		now := time.Now()
		for pos := range chans {
			if sr := reports.due(r, pkts, pos, now); sr != nil {
				bufs = append(bufs, []byte{'$', chans[pos] + 1, byte(len(sr) >> 8), byte(len(sr))}, sr)
			}
		}
		if cap(hdrs) < 4*len(pkts) {
			hdrs = make([]byte, 4*len(pkts))
		}
		hdrs = hdrs[:4*len(pkts)]
		for i, p := range pkts {
			pos := r.Position(p.Track)
			reports.count(pos, p)
			if p.Framed != nil && chans[pos] == p.Tag {
				// the shared framing fits: grow the last buffer over it
				// when it follows in memory, as it does in steady state
				if n := len(bufs); n > 0 {
					if ext, ok := stream.Extend(bufs[n-1], p.Framed); ok {
						bufs[n-1] = ext
						continue
					}
				}
				bufs = append(bufs, p.Framed)
				continue
			}
			h := hdrs[4*i : 4*i+4 : 4*i+4]
			h[0] = '$'
			h[1] = chans[pos]
			h[2] = byte(len(p.Data) >> 8)
			h[3] = byte(len(p.Data))
			bufs = append(bufs, h, p.Data)
		}
		n := 0
		for _, b := range bufs {
			n += len(b)
		}
		*out = bufs // writev consumes it; bufs keeps the backing array
		err = c.writeBatch(out)
		sent.bytes.Add(uint64(n))
		sent.packets.Add(uint64(len(pkts)))
		clear(pkts)
		clear(bufs)
		if err != nil {
			return err
		}
	}
}
