package stream

import (
	"time"

	"github.com/pion/rtp"
)

// Packet is one RTP packet of a stream, marshalled once and shared by every
// reader. Readers must treat it as read-only.
type Packet struct {
	Track *Track
	// RTP is the parsed packet with the stream's SSRC, sequence number and
	// timestamp already applied.
	RTP *rtp.Packet
	// Data is RTP marshalled, ready for the wire.
	Data []byte
	// Framed is Data behind its 4-byte RTSP interleaved header, with the
	// channel the track's readers usually choose (Track.Channel). Packets
	// written one after another are adjacent in memory: see Extend.
	Framed []byte
	// Time is when the packet reached rtspgate.
	Time time.Time
	// Wall is the wall time of the packet's RTP time on the stream's media
	// clock (see clock.go): what RTCP sender reports pair it with.
	Wall time.Time
	// Key marks the first packet of an access unit a decoder can start at
	// (for video: a keyframe, or parameter sets before one). Audio packets
	// are always Key.
	Key bool

	idx uint64
}

// isPrefix reports whether a payload holds only a NAL unit that may come
// before a keyframe's data in its access unit (access unit delimiter, SEI), so
// the keyframe check must look at the next packet too.
func isPrefix(codec string, p []byte) bool {
	if len(p) == 0 {
		return false
	}
	switch codec {
	case "H264":
		t := p[0] & 0x1f
		return t == 6 || t == 9
	case "H265":
		t := (p[0] >> 1) & 0x3f
		return t == 35 || t == 39
	}
	return false
}

// isKeyStart reports whether an RTP payload that starts an access unit begins
// a keyframe. Codecs we do not inspect count as always decodable.
func isKeyStart(codec string, payload []byte) bool {
	if len(payload) == 0 {
		return false
	}
	switch codec {
	case "H264":
		return h264Key(payload)
	case "H265":
		return h265Key(payload)
	}
	return true
}

func h264Key(p []byte) bool {
	typ := p[0] & 0x1f
	switch typ {
	case 5, 7, 8: // IDR, SPS, PPS
		return true
	case 24: // STAP-A: look at every aggregated unit
		for q := p[1:]; len(q) > 2; {
			n := int(q[0])<<8 | int(q[1])
			if n == 0 || len(q) < 2+n {
				return false
			}
			if t := q[2] & 0x1f; t == 5 || t == 7 {
				return true
			}
			q = q[2+n:]
		}
	case 28: // FU-A: the start fragment carries the type
		if len(p) > 1 && p[1]&0x80 != 0 {
			return p[1]&0x1f == 5
		}
	}
	return false
}

func h265Key(p []byte) bool {
	if len(p) < 3 {
		return false
	}
	typ := (p[0] >> 1) & 0x3f
	switch {
	case typ >= 16 && typ <= 21, typ >= 32 && typ <= 34: // IRAP, VPS/SPS/PPS
		return true
	case typ == 48: // aggregation packet
		for q := p[2:]; len(q) > 3; {
			n := int(q[0])<<8 | int(q[1])
			if n < 1 || len(q) < 2+n {
				return false
			}
			if t := (q[2] >> 1) & 0x3f; (t >= 16 && t <= 21) || t == 32 || t == 33 {
				return true
			}
			q = q[2+n:]
		}
	case typ == 49: // fragmentation unit
		if p[2]&0x80 != 0 {
			t := p[2] & 0x3f
			return t >= 16 && t <= 21
		}
	}
	return false
}
