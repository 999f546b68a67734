package stream

import (
	"context"
	"errors"

	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"
)

// Media has a direction. Tracks carry media from a source to readers;
// a sink carries media the other way, from a talker to the origin: a
// camera's ONVIF backchannel (its SDP lists it as sendonly, for us to send
// on). Sources announce their sinks with Publisher.SetSinks; something that
// will talk acquires one with Stream.Talk, and only then does the source set
// it up.

// SinkSpec is one medium an origin takes from us.
type SinkSpec struct {
	Kind Kind
	// Formats the origin accepts, in its order of preference.
	Formats []format.Format
}

// Errors of talking.
var (
	// ErrNoSink: no source of the stream has a backchannel.
	ErrNoSink = errors.New("no source of the stream takes audio back (no backchannel)")
	// ErrReplaced ends a speaker when another talker takes the sink.
	ErrReplaced = errors.New("another talker took over")
)

// Talker is a Source that can carry media back to its origin.
type Talker interface {
	// Talk sets up the origin's backchannel if needed and returns where to
	// write, for as long as ctx lasts. One talker at a time per origin: a
	// new Talk ends the previous speaker with ErrReplaced.
	Talk(ctx context.Context) (Speaker, error)
}

// Speaker is one talker's hold on a sink.
type Speaker interface {
	// Formats are what the origin accepts, in its order of preference.
	Formats() []format.Format
	// WritePacket sends one RTP packet whose payload is in f, one of
	// Formats. The speaker sets the payload type, SSRC and sequence numbers
	// the origin's session expects.
	WritePacket(f format.Format, pkt *rtp.Packet) error
	// Done is closed when the speaker ends: Close, the origin went away, or
	// another talker took over (Err says which).
	Done() <-chan struct{}
	Err() error
	Close()
}

// Talk acquires the backchannel of the first source that has one,
// connecting the sources first if needed; ctx bounds that wait. The
// stream's sources stay connected while the speaker lives.
func (s *Stream) Talk(ctx context.Context) (Speaker, error) {
	release := s.Acquire()
	talkers := s.talkers()
	if len(talkers) == 0 {
		// sinks are known once the sources have connected
		_, _ = s.WaitTracks(ctx)
		talkers = s.talkers()
	}
	if len(talkers) == 0 {
		release()
		return nil, ErrNoSink
	}
	var errs []error
	for _, t := range talkers {
		sp, err := t.Talk(ctx)
		if err == nil {
			go func() {
				<-sp.Done()
				release()
			}()
			return sp, nil
		}
		errs = append(errs, err)
	}
	release()
	return nil, errors.Join(errs...)
}

// talkers are the sources that reported a sink.
func (s *Stream) talkers() []Talker {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Talker
	for _, p := range s.producers {
		if t, ok := p.src.(Talker); ok && len(p.sinks) > 0 {
			out = append(out, t)
		}
	}
	return out
}

// Sinks lists what the stream's sources take back, as last reported.
func (s *Stream) Sinks() []SinkSpec {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []SinkSpec
	for _, p := range s.producers {
		out = append(out, p.sinks...)
	}
	return out
}
