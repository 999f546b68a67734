package stream

import (
	"context"
	"errors"
	"time"

	"github.com/pion/rtp"
)

// SourceSpec is one configured source of a stream, already validated.
type SourceSpec struct {
	// Stream is the name of the stream the source feeds.
	Stream string
	// URL is the source without its '#' options.
	URL    string
	Scheme string
	// Options are the '#name=value' options; List holds them in the order
	// written, repeats included (ffmpeg takes #audio=aac#audio=opus).
	Options map[string]string
	List    []Option
	// Redacted is the source as it may be shown: credentials masked.
	Redacted string
}

// Option is one '#key=value' option of a source.
type Option struct{ Key, Value string }

// Source connects to one origin and feeds what it receives to pub.
type Source interface {
	// Run connects, calls pub.SetTracks once connected, then pub.WritePacket
	// for every packet, until ctx ends (return nil or ctx.Err()) or the origin
	// fails (return why). The stream reconnects with backoff.
	Run(ctx context.Context, pub Publisher) error
}

// Errors a source may return from Run, wrapped, to change how the stream
// treats the failure.
var (
	// ErrBusy: the origin refused for now (a camera at its session limit
	// answers 503 or 453, or drops the connection). It is retried soon,
	// and a reader waiting for the stream goes on waiting meanwhile.
	ErrBusy = errors.New("busy")
	// ErrYielded: the source gave its connection up so that another source
	// of the same camera can connect. A source nobody wants any more stops
	// instead of reconnecting.
	ErrYielded = errors.New("gave way to another session of the same camera")
)

// Opener makes a Source for one scheme; it checks the spec but does not connect.
type Opener func(spec SourceSpec) (Source, error)

// Publisher is what a source writes into.
type Publisher interface {
	// SetTracks declares the tracks of this connection, in the source's order.
	// Tracks whose codecs match the previous connection's are kept, so their
	// readers see a gap rather than an end.
	SetTracks(specs []TrackSpec) ([]*Track, error)
	// WritePacket hands over one RTP packet of t that arrived at now. srcNTP
	// is the source's own NTP time of the packet (from its RTCP sender
	// reports), or zero when it sends none. The stream takes ownership of pkt
	// and rewrites its SSRC, sequence number and timestamp.
	WritePacket(t *Track, pkt *rtp.Packet, now, srcNTP time.Time)
	// Wanted reports whether the source is needed now: a reader of its
	// tracks, or someone else holding it (not only the grace time after
	// the last one left).
	Wanted() bool
	// SetSinks declares what the origin takes back (its backchannel), or
	// none; note says why there is none when the origin has one that cannot
	// be used (e.g. its SETUP was refused). Shown by the probe.
	SetSinks(sinks []SinkSpec, note string)
	// Quirk records a camera quirk the source met (a repair it made), by a
	// short stable name; the producer's health lists each once.
	Quirk(name string)
}
