package rtspserver

import (
	"testing"

	"github.com/bluenviron/gortsplib/v5/pkg/format"

	"github.com/rtspgate/rtspgate/internal/stream"
)

func TestFrameWritesInterleavedHeader(t *testing.T) {
	tr := stream.NewTrack(3, stream.TrackSpec{Kind: stream.Audio, Format: &format.G711{PayloadTyp: 8, SampleRate: 8000, ChannelCount: 1}})
	head := make([]byte, stream.Headroom)
	if ch := Frame(head, tr, 0x1234); ch != 6 || string(head) != "$\x06\x12\x34" {
		t.Fatalf("without a choice: channel %d, header % x; want 6 (twice the ID)", ch, head)
	}
	tr.SetFrameTag(0)
	if ch := Frame(head, tr, 5); ch != 0 || string(head) != "$\x00\x00\x05" {
		t.Fatalf("after SetFrameTag(0): channel %d, header % x", ch, head)
	}
}

func TestChannelVotesFollowMostReaders(t *testing.T) {
	v := stream.NewTrack(0, stream.TrackSpec{Kind: stream.Video, Format: &format.H264{PayloadTyp: 96, PacketizationMode: 1}})
	a := stream.NewTrack(1, stream.TrackSpec{Kind: stream.Audio, Format: &format.G711{PayloadTyp: 8, SampleRate: 8000, ChannelCount: 1}})
	v.SetFrameTag(0)
	a.SetFrameTag(2)
	tag := func(tr *stream.Track) byte { c, _ := tr.FrameTag(); return c }
	var votes channelVotes
	both := []*stream.Track{v, a}
	audioOnly := []*stream.Track{a}

	votes.add(both, []byte{0, 2}, 1)
	votes.add(audioOnly, []byte{0}, 1) // an ?audio reader: audio on 0
	if tag(v) != 0 || tag(a) != 2 {
		t.Fatalf("a tie moved the framing: video %d, audio %d", tag(v), tag(a))
	}
	votes.add(audioOnly, []byte{0}, 1)
	if tag(a) != 0 {
		t.Fatalf("two audio-only readers against one: audio framed on %d, want 0", tag(a))
	}
	votes.add(audioOnly, []byte{0}, -1)
	votes.add(audioOnly, []byte{0}, -1)
	if tag(a) != 2 {
		t.Fatalf("only the reader on 2 is left: audio framed on %d", tag(a))
	}
	votes.add(both, []byte{4, 6}, 1) // odd channels, two readers now
	votes.add(both, []byte{4, 6}, 1)
	if tag(v) != 4 || tag(a) != 6 {
		t.Fatalf("most readers on 4 and 6: framed %d and %d", tag(v), tag(a))
	}
	votes.add(both, []byte{0, 2}, -1)
	votes.add(both, []byte{4, 6}, -1)
	votes.add(both, []byte{4, 6}, -1)
	if len(votes.n) != 0 {
		t.Fatalf("votes left after every reader went: %v", votes.n)
	}
}
