package stream

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"

	"github.com/rtspgate/rtspgate/internal/rtpfrag"
)

// Kind is the kind of media a track carries.
type Kind string

// Track kinds.
const (
	Video Kind = "video"
	Audio Kind = "audio"
	Data  Kind = "application"
)

// TrackSpec describes a track a source offers: what its packets are, before
// they belong to a stream.
type TrackSpec struct {
	Kind   Kind
	Format format.Format
}

// Codec is the short upper-case codec name users write in queries: H264,
// H265, PCMA, PCMU, AAC, OPUS, MJPEG, MP3, L16 …
func (ts TrackSpec) Codec() string { return CodecName(ts.Format) }

// CodecName names a format the way codec filters do.
func CodecName(f format.Format) string {
	switch f := f.(type) {
	case *format.G711:
		if f.MULaw {
			return "PCMU"
		}
		return "PCMA"
	case *format.MPEG4Audio, *format.MPEG4AudioLATM:
		return "AAC"
	case *format.MJPEG:
		return "MJPEG"
	case *format.MPEG1Audio:
		return "MP3"
	case *format.LPCM:
		return "L16"
	}
	// the encoding name of the rtpmap: "VP8/90000" -> "VP8"
	name, _, _ := strings.Cut(f.RTPMap(), "/")
	return strings.ToUpper(name)
}

// sameAs reports whether packets of o can continue a track of ts without the
// reader noticing: same kind, codec, clock rate and payload type. Parameters
// such as H.264's SPS may differ: they are handed on in band.
func (ts TrackSpec) sameAs(o TrackSpec) bool {
	return ts.Kind == o.Kind && ts.Codec() == o.Codec() &&
		ts.Format.ClockRate() == o.Format.ClockRate() &&
		ts.Format.PayloadType() == o.Format.PayloadType()
}

// sameParams reports whether two formats of the same codec also carry the
// same parameters (fmtp: sprop-parameter-sets, config …).
func sameParams(a, b format.Format) bool { return reflect.DeepEqual(a.FMTP(), b.FMTP()) }

// formatBox lets a track's format be swapped atomically.
type formatBox struct{ f format.Format }

// Track is one media track of a stream. It outlives a reconnect of its source
// when the codec is unchanged, so readers see a gap, not a disconnect.
type Track struct {
	Kind Kind
	// ID is unique within the stream and small: readers index slices by it.
	ID int
	// SSRC is the SSRC of every packet readers get from this track.
	SSRC uint32

	codec  string        // CodecName, computed once: the packet path needs it
	frame  atomic.Uint32 // the framing tag + 1 a protocol chose; 0: none yet
	format atomic.Pointer[formatBox]
	gen    atomic.Uint32 // counts format changes

	closeOnce sync.Once
	done      chan struct{}

	// rewrite state, guarded by the stream's write lock
	lastKey   uint64 // ring index of the last keyframe's first packet
	hasKey    bool
	resync    bool
	started   bool
	seqOffset uint16
	tsOffset  uint32
	lastSeq   uint16
	lastTS    uint32
	lastTime  time.Time
	auStart   bool
	sawMarker bool // the source marks frame ends: wake readers only there
	params    paramSets
	frag      rtpfrag.Splitter // cuts packets over Options.PktSize
	clock     mediaClock
	src       *sourceClock // shared by the tracks of one source connection

	// health, guarded by the stream's write lock too
	rx         rxStats
	quirks     uint8     // quirk* bits met
	videoSince time.Time // first video packet, while no marker bit came
	sdpParams  bool      // the format (SDP) has the parameter sets
	// quirksSettled: no quirk is left for the packet path to notice
	quirksSettled bool
}

// FrameTag is the framing choice a protocol made for the track's packets
// with SetFrameTag (RTSP: the interleaved channel most of its readers set
// up), and false when none was made.
func (t *Track) FrameTag() (byte, bool) {
	v := t.frame.Load()
	return byte(v - 1), v != 0
}

// SetFrameTag records the framing choice for packets written from now on.
func (t *Track) SetFrameTag(tag byte) { t.frame.Store(uint32(tag) + 1) }

// Format is the track's codec description. It may be replaced when the
// source reconnects with new parameters (same codec): see Generation.
func (t *Track) Format() format.Format { return t.format.Load().f }

// Generation counts replacements of Format; a description made from an older
// generation is stale for new readers.
func (t *Track) Generation() uint32 { return t.gen.Load() }

// Codec is the track's CodecName.
func (t *Track) Codec() string { return t.codec }

// Spec is the track's kind and current format.
func (t *Track) Spec() TrackSpec { return TrackSpec{Kind: t.Kind, Format: t.Format()} }

// NewTrack makes a track outside any stream: sources' tests record with it.
func NewTrack(id int, spec TrackSpec) *Track { return newTrack(id, spec) }

func newTrack(id int, spec TrackSpec) *Track {
	t := &Track{
		Kind:    spec.Kind,
		ID:      id,
		codec:   spec.Codec(),
		SSRC:    rand.Uint32(),
		done:    make(chan struct{}),
		resync:  true,
		auStart: true,
	}
	t.format.Store(&formatBox{spec.Format})
	t.params.fromFormat(spec.Format)
	t.sdpParams = t.params.complete()
	t.clock.rate = clockRate(spec.Format)
	return t
}

// clockRate is f's RTP clock rate, or 0 for a format too incomplete to say
// (gortsplib's formats may panic then).
func clockRate(f format.Format) (rate float64) {
	defer func() {
		if recover() != nil {
			rate = 0
		}
	}()
	return float64(f.ClockRate())
}

// setFormat replaces the format with one of the same codec; stream locks held.
func (t *Track) setFormat(f format.Format) {
	t.format.Store(&formatBox{f})
	t.gen.Add(1)
	t.params.fromFormat(f)
	t.sdpParams = t.params.complete()
	t.quirksSettled = false
}

// Done is closed when the track ends for good (its source changed codecs, or
// its publisher left and none came back).
func (t *Track) Done() <-chan struct{} { return t.done }

func (t *Track) close() { t.closeOnce.Do(func() { close(t.done) }) }

func (t *Track) closed() bool {
	select {
	case <-t.done:
		return true
	default:
		return false
	}
}

// rewrite gives pkt the track's SSRC and makes sequence numbers and
// timestamps continue across source restarts. Called with the stream's write
// lock held.
func (t *Track) rewrite(pkt *rtp.Packet, now time.Time) {
	if t.resync {
		t.resync = false
		if t.started {
			elapsed := now.Sub(t.lastTime)
			if elapsed < 0 {
				elapsed = 0
			}
			ticks := uint32(elapsed.Seconds() * t.clock.rate)
			if ticks == 0 {
				ticks = 1
			}
			t.tsOffset = t.lastTS + ticks - pkt.Timestamp
			t.seqOffset = t.lastSeq + 1 - pkt.SequenceNumber
		} else {
			t.tsOffset = rand.Uint32()
			t.seqOffset = uint16(rand.Uint32())
		}
		t.auStart = true
	} else if t.started && pkt.Timestamp+t.tsOffset != t.lastTS {
		// a new timestamp is a new access unit, marker bit or not
		t.auStart = true
	}
	pkt.SSRC = t.SSRC
	pkt.SequenceNumber += t.seqOffset
	pkt.Timestamp += t.tsOffset
	t.started = true
	t.lastSeq = pkt.SequenceNumber
	t.lastTS = pkt.Timestamp
	t.lastTime = now
}

// insertBefore makes room for one packet of ours before pkt (already
// rewritten): it returns the sequence number for it and shifts pkt and all
// that follow by one.
func (t *Track) insertBefore(pkt *rtp.Packet) uint16 {
	seq := pkt.SequenceNumber
	pkt.SequenceNumber++
	t.seqOffset++
	t.lastSeq = pkt.SequenceNumber
	return seq
}
