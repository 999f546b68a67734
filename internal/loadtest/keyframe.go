package loadtest

import (
	"encoding/binary"
)

// keyframeDetector watches one reader's H.264 RTP packets (RFC 6184: single
// NAL unit, STAP-A, FU-A) for the first keyframe a decoder could show: every
// packet of an access unit holding an IDR slice, from the unit's first packet
// to its marker with no sequence gap, with an SPS and a PPS received before
// it or in it. Parameter sets in the SDP do not count: the fake camera and
// the publisher send them in band before every IDR.
type keyframeDetector struct {
	haveSPS, havePPS bool

	// The access unit being received.
	inAU     bool
	ts       uint32
	nextSeq  uint16
	complete bool // started at the unit's first packet, no gap so far
	idr      bool
	stamp    Stamp
	hasStamp bool

	// lastMarker tells that the previous packet ended an access unit, so a
	// packet right after it starts one.
	lastMarker bool
	seen       bool
	sei        seiScanner
}

// packet takes one RTP packet and reports whether it completes the first
// decodable keyframe (and later ones: the caller stops at the first).
func (d *keyframeDetector) packet(pkt []byte) bool {
	payload, ok := rtpPayload(pkt)
	if !ok || len(payload) == 0 {
		d.complete = false
		return false
	}
	seq := binary.BigEndian.Uint16(pkt[2:4])
	ts := binary.BigEndian.Uint32(pkt[4:8])
	marker := pkt[1]&0x80 != 0

	contiguous := d.seen && seq == d.nextSeq
	if !d.inAU || ts != d.ts {
		// A new access unit: complete only if this is its first packet.
		d.inAU, d.ts = true, ts
		d.complete = (contiguous && d.lastMarker) || startsAccessUnit(payload)
		d.idr, d.hasStamp = false, false
		d.sei = seiScanner{}
	} else if !contiguous {
		d.complete = false
	}
	d.seen, d.nextSeq, d.lastMarker = true, seq+1, marker

	forEachNALUType(payload, func(t byte) {
		switch t {
		case naluTypeSPS:
			d.haveSPS = true
		case naluTypePPS:
			d.havePPS = true
		case naluTypeIDR:
			d.idr = true
		}
	})
	if st, ok := d.sei.scan(payload); ok {
		d.stamp, d.hasStamp = st, true
	}
	if !marker {
		return false
	}
	d.inAU = false
	return d.complete && d.idr && d.haveSPS && d.havePPS
}

// rtpPayload returns the payload of an RTP packet, without header
// extension and padding.
func rtpPayload(pkt []byte) ([]byte, bool) {
	if len(pkt) < 12 || pkt[0]>>6 != 2 {
		return nil, false
	}
	off := 12 + 4*int(pkt[0]&0x0f)
	if pkt[0]&0x10 != 0 {
		if len(pkt) < off+4 {
			return nil, false
		}
		off += 4 + 4*int(binary.BigEndian.Uint16(pkt[off+2:]))
	}
	end := len(pkt)
	if pkt[0]&0x20 != 0 {
		if end == 0 || int(pkt[end-1]) > end {
			return nil, false
		}
		end -= int(pkt[end-1])
	}
	if off > end {
		return nil, false
	}
	return pkt[off:end], true
}

// forEachNALUType calls f with the type of every NAL unit that starts in
// payload: the unit itself, each unit of a STAP-A, the unit an FU-A starts.
func forEachNALUType(payload []byte, f func(byte)) {
	switch t := payload[0] & 0x1f; t {
	case naluTypeSTAPA:
		buf := payload[1:]
		for len(buf) >= 3 {
			size := int(binary.BigEndian.Uint16(buf))
			if size == 0 || size > len(buf)-2 {
				return
			}
			f(buf[2] & 0x1f)
			buf = buf[2+size:]
		}
	case naluTypeFUA:
		if len(payload) >= 2 && payload[1]&0x80 != 0 {
			f(payload[1] & 0x1f)
		}
	default:
		f(t)
	}
}

// startsAccessUnit reports whether the first NAL unit starting in payload
// can only be the first of an access unit (H.264 7.4.1.2.3): an AUD, SPS,
// PPS or SEI, or a slice with first_mb_in_slice 0.
func startsAccessUnit(payload []byte) bool {
	var t, next byte
	var hasNext bool
	switch payload[0] & 0x1f {
	case naluTypeSTAPA:
		if len(payload) < 4 {
			return false
		}
		t = payload[3] & 0x1f
		hasNext, next = len(payload) >= 5, safeByte(payload, 4)
	case naluTypeFUA:
		if len(payload) < 2 || payload[1]&0x80 == 0 {
			return false // a continuation: the unit started before
		}
		t = payload[1] & 0x1f
		hasNext, next = len(payload) >= 3, safeByte(payload, 2)
	default:
		t = payload[0] & 0x1f
		hasNext, next = len(payload) >= 2, safeByte(payload, 1)
	}
	switch {
	case t == naluTypeAUD || t == naluTypeSPS || t == naluTypePPS || t == naluTypeSEI:
		return true
	case t >= 1 && t <= 5:
		// first_mb_in_slice is ue(v): 0 is the single bit 1.
		return hasNext && next&0x80 != 0
	}
	return false
}

func safeByte(b []byte, i int) byte {
	if i < len(b) {
		return b[i]
	}
	return 0
}
