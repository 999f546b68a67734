package talk

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"

	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"

	"github.com/rtspgate/rtspgate/internal/stream"
)

// Live is a talker that hands us G.711 as it is spoken (the browser's talk
// button): each Write is one chunk, sent at once as one RTP packet.
type Live struct {
	sp      stream.Speaker
	formats map[string]format.Format // "PCMU", "PCMA"

	mu    sync.Mutex
	seq   uint16
	ts    uint32
	first bool
}

// StartLive takes st's backchannel for a live talker; ctx bounds the start.
func StartLive(ctx context.Context, st *stream.Stream) (*Live, error) {
	sp, err := st.Talk(ctx)
	if err != nil {
		return nil, err
	}
	l := &Live{sp: sp, formats: map[string]format.Format{}, seq: uint16(rand.Uint32()), ts: rand.Uint32(), first: true}
	for _, f := range sp.Formats() {
		if c := g711(f); c != "" && l.formats[c] == nil {
			l.formats[c] = f
		}
	}
	if len(l.formats) == 0 {
		sp.Close()
		return nil, fmt.Errorf("%w: the camera's backchannel takes no G.711 at 8 kHz", ErrBadSource)
	}
	return l, nil
}

// Codecs are the G.711 codecs the camera takes, its preferred first.
func (l *Live) Codecs() []string {
	var out []string
	for _, f := range l.sp.Formats() {
		if c := stream.CodecName(f); l.formats[c] == f {
			out = append(out, c)
		}
	}
	return out
}

// Write sends payload, G.711 in codec ("PCMU" or "PCMA") at 8 kHz.
func (l *Live) Write(codec string, payload []byte) error {
	f := l.formats[codec]
	if f == nil {
		return fmt.Errorf("%w: the camera does not take %q", ErrBadSource, codec)
	}
	if len(payload) == 0 {
		return nil
	}
	l.mu.Lock()
	pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: f.PayloadType(), SequenceNumber: l.seq, Timestamp: l.ts, Marker: l.first}, Payload: append([]byte(nil), payload...)}
	l.seq++
	l.ts += uint32(len(payload)) // one G.711 byte is one 8 kHz sample
	l.first = false
	l.mu.Unlock()
	if err := l.sp.WritePacket(f, pkt); err != nil {
		return err
	}
	select {
	case <-l.sp.Done():
		return l.Err()
	default:
		return nil
	}
}

// Done is closed when the talk ends: Close, the camera went away, or
// another talker took over (Err says which).
func (l *Live) Done() <-chan struct{} { return l.sp.Done() }

// Err says why the talk ended: stream.ErrReplaced when another talker took
// over.
func (l *Live) Err() error { return l.sp.Err() }

// Close ends the talk.
func (l *Live) Close() { l.sp.Close() }
