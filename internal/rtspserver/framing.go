package rtspserver

import (
	"sync"

	"github.com/rtspgate/rtspgate/internal/stream"
)

// Frame is the stream core's FrameFunc for RTSP: it writes the interleaved
// header ('$', channel, length) in front of each packet, once for all TCP
// readers. The channel is the one most of the track's TCP readers set up
// (see channelVotes); before any did, twice the track's ID, which is what
// players that number channels 0, 2, 4 … in SDP order pick for the usual
// video-then-audio selection of one or two sources.
func Frame(head []byte, t *stream.Track, size int) byte {
	ch, ok := t.FrameTag()
	if !ok {
		ch = byte(2 * t.ID)
	}
	head[0], head[1], head[2], head[3] = '$', ch, byte(size>>8), byte(size)
	return ch
}

// channelVotes counts, per track, the interleaved channels its TCP readers
// set up, and frames the track's packets with the most common one: each
// reader on that channel sends the shared bytes as they are, in one write
// per batch; the others prepend a header of their own to every packet.
type channelVotes struct {
	mu sync.Mutex
	n  map[*stream.Track]map[byte]int
}

// add counts (delta +1) or uncounts (-1) a reader of tracks on chans.
func (v *channelVotes) add(tracks []*stream.Track, chans []byte, delta int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.n == nil {
		v.n = map[*stream.Track]map[byte]int{}
	}
	for i, t := range tracks {
		votes := v.n[t]
		if votes == nil {
			votes = map[byte]int{}
			v.n[t] = votes
		}
		votes[chans[i]] += delta
		if votes[chans[i]] <= 0 {
			delete(votes, chans[i])
		}
		if len(votes) == 0 {
			delete(v.n, t) // the framing stays as it was
			continue
		}
		// the current channel keeps a tie, so framing does not flip
		// back and forth; among the others the lowest wins one
		cur, _ := t.FrameTag()
		best, most := cur, votes[cur]
		for ch, n := range votes {
			if n > most || n == most && best != cur && ch < best {
				best, most = ch, n
			}
		}
		if best != cur {
			t.SetFrameTag(best)
		}
	}
}
