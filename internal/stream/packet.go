package stream

import "time"

// Packet is one RTP packet of a stream, marshalled once and shared by every
// reader. Readers must treat it as read-only.
//
// It holds no parsed rtp.Packet: a stream keeps seconds of packets for its
// GOP cache, and every pointer in them is work for each garbage collection.
type Packet struct {
	Track *Track
	// Data is the RTP packet marshalled, with the stream's SSRC, sequence
	// number and timestamp applied, ready for the wire.
	Data []byte
	// Framed is Data behind Headroom bytes that the stream's FrameFunc
	// filled (a protocol's framing, e.g. RTSP's interleaved header), or nil
	// without one. Packets written one after another are adjacent in
	// memory, so a reader may send a run of them as one buffer: see Extend.
	Framed []byte
	// Tag is what the FrameFunc returned for this packet (e.g. the
	// interleaved channel it wrote): readers whose framing differs build
	// their own.
	Tag byte
	// Time is when the packet reached rtspgate.
	Time time.Time
	// Wall is the wall time of the packet's RTP time on the stream's media
	// clock (see clock.go): what RTCP sender reports pair it with.
	Wall time.Time
	// Key marks the first packet of an access unit a decoder can start at
	// (for video: a keyframe, or parameter sets before one). Audio packets
	// are always Key.
	Key bool

	// Timestamp is the RTP timestamp in Data.
	Timestamp uint32

	payload, payloadEnd uint16 // Payload is Data[payload:payloadEnd]
	idx                 uint64
	size                int // bytes it holds in the ring
}

// Payload is the RTP payload in Data.
func (p *Packet) Payload() []byte { return p.Data[p.payload:p.payloadEnd] }

// Headroom is the room in front of every packet's Data for a protocol's
// framing.
const Headroom = 4

// FrameFunc writes a protocol's framing of a packet of t with size bytes of
// RTP into head (Headroom bytes) and returns a tag readers compare with the
// framing they need. It runs once per packet, on the packet path.
type FrameFunc func(head []byte, t *Track, size int) (tag byte)

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
	k := keySink{whole: len(p)}
	forEachH264(p, &k)
	return k.key
}

func h265Key(p []byte) bool {
	k := keySink{whole: len(p)}
	forEachH265(p, &k)
	return k.key
}

// keySink is a nalSink that finds where a decoder can start: the start of
// an IDR/IRAP picture, a sequence (or video) parameter set that is not a
// fragment, or a picture parameter set sent on its own.
type keySink struct {
	whole int // the payload's length: a NAL unit that long is the whole packet
	key   bool
}

func (k *keySink) nal(codec string, typ byte, n []byte, start bool) {
	single := n != nil && len(n) == k.whole
	if codec == "H264" {
		k.key = k.key || typ == 5 && start || typ == 7 && n != nil || typ == 8 && single
		return
	}
	irap := typ >= 16 && typ <= 21
	k.key = k.key || irap && start || (typ == 32 || typ == 33) && n != nil || typ == 34 && single
}
