package stream

import (
	"context"
	"time"

	"github.com/pion/rtp"
)

// SourceSpec is one configured source of a stream, already validated.
type SourceSpec struct {
	// URL is the source without its '#' options.
	URL    string
	Scheme string
	// Options are the '#name=value' options.
	Options map[string]string
	// Redacted is the source as it may be shown: credentials masked.
	Redacted string
}

// Source connects to one origin and feeds what it receives to pub.
type Source interface {
	// Run connects, calls pub.SetTracks once connected, then pub.WritePacket
	// for every packet, until ctx ends (return nil or ctx.Err()) or the origin
	// fails (return why). The stream reconnects with backoff.
	Run(ctx context.Context, pub Publisher) error
}

// Opener makes a Source for one scheme; it checks the spec but does not connect.
type Opener func(spec SourceSpec) (Source, error)

// Publisher is what a source writes into.
type Publisher interface {
	// SetTracks declares the tracks of this connection, in the source's order.
	// Tracks whose codecs match the previous connection's are kept, so their
	// readers see a gap rather than an end.
	SetTracks(specs []TrackSpec) ([]*Track, error)
	// WritePacket hands over one RTP packet of t. The stream takes ownership
	// of pkt and rewrites its SSRC, sequence number and timestamp.
	WritePacket(t *Track, pkt *rtp.Packet, now time.Time)
}
