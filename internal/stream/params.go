package stream

import (
	"bytes"

	"github.com/bluenviron/gortsplib/v5/pkg/format"
)

// paramSets are the latest H.264 (SPS, PPS) or H.265 (VPS, SPS, PPS)
// parameter sets of a track, from its SDP and from what the source sent in
// band. A keyframe that arrives without them gets them put in front, so that
// every reader that starts at a keyframe, or stays across a reconnect with
// new parameters, can decode it: cameras that send them only in the
// SDP, only once, or changed them after a reconnect all look the same to a
// reader then.
type paramSets struct {
	vps, sps, pps []byte
	// fresh: parameter sets came in band since the last picture data, so
	// the next keyframe already has them
	fresh bool
}

func (ps *paramSets) fromFormat(f format.Format) {
	switch f := f.(type) {
	case *format.H264:
		ps.vps, ps.sps, ps.pps = nil, clone(f.SPS), clone(f.PPS)
	case *format.H265:
		ps.vps, ps.sps, ps.pps = clone(f.VPS), clone(f.SPS), clone(f.PPS)
	}
}

func clone(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return bytes.Clone(b)
}

// observe learns the parameter sets of one RTP payload and whether it holds
// picture data. It runs for every video packet: no allocation.
func (ps *paramSets) observe(codec string, p []byte) {
	switch codec {
	case "H264":
		forEachH264(p, ps)
	case "H265":
		forEachH265(p, ps)
	}
}

// nal is called for each NAL unit of a payload: its type, its bytes (nil
// for a fragment), and whether it begins in this payload.
func (ps *paramSets) nal(codec string, typ byte, n []byte, start bool) {
	if codec == "H264" {
		switch {
		case typ == 7 && n != nil:
			ps.sps, ps.fresh = keep(ps.sps, n), true
		case typ == 8 && n != nil:
			ps.pps, ps.fresh = keep(ps.pps, n), true
		case typ >= 1 && typ <= 5 && start:
			ps.fresh = false
		}
		return
	}
	if n != nil && len(n) < 2 {
		return // not even an H.265 NAL header: nothing to keep
	}
	switch {
	case typ == 32 && n != nil:
		ps.vps, ps.fresh = keep(ps.vps, n), true
	case typ == 33 && n != nil:
		ps.sps, ps.fresh = keep(ps.sps, n), true
	case typ == 34 && n != nil:
		ps.pps, ps.fresh = keep(ps.pps, n), true
	case typ < 32 && start:
		ps.fresh = false
	}
}

// keep stores n in old's place, reusing its memory when the size allows.
func keep(old, n []byte) []byte {
	if bytes.Equal(old, n) {
		return old
	}
	return append(old[:0:0], n...)
}

// nalSink receives the NAL units of a payload.
type nalSink interface {
	nal(codec string, typ byte, n []byte, start bool)
}

// forEachH264 hands each NAL unit of an RTP payload (single, STAP-A, or an
// FU-A fragment) to sink.
func forEachH264(p []byte, sink nalSink) {
	if len(p) == 0 {
		return
	}
	switch p[0] & 0x1f {
	case 24: // STAP-A
		for q := p[1:]; len(q) > 2; {
			n := int(q[0])<<8 | int(q[1])
			if n == 0 || len(q) < 2+n {
				return
			}
			sink.nal("H264", q[2]&0x1f, q[2:2+n], true)
			q = q[2+n:]
		}
	case 28: // FU-A
		if len(p) > 1 {
			sink.nal("H264", p[1]&0x1f, nil, p[1]&0x80 != 0)
		}
	default:
		sink.nal("H264", p[0]&0x1f, p, true)
	}
}

// forEachH265 is forEachH264 for H.265 (aggregation and fragmentation units).
func forEachH265(p []byte, sink nalSink) {
	if len(p) < 3 {
		return
	}
	switch (p[0] >> 1) & 0x3f {
	case 48: // aggregation packet
		for q := p[2:]; len(q) > 3; {
			n := int(q[0])<<8 | int(q[1])
			if n < 1 || len(q) < 2+n {
				return
			}
			sink.nal("H265", (q[2]>>1)&0x3f, q[2:2+n], true)
			q = q[2+n:]
		}
	case 49: // fragmentation unit
		sink.nal("H265", p[2]&0x3f, nil, p[2]&0x80 != 0)
	default:
		sink.nal("H265", (p[0]>>1)&0x3f, p, true)
	}
}

// hasSPS is a nalSink that looks for a sequence parameter set.
type hasSPS bool

func (h *hasSPS) nal(codec string, typ byte, n []byte, _ bool) {
	if codec == "H264" && typ == 7 || codec == "H265" && typ == 33 {
		*h = true
	}
}

// missing reports whether a keyframe that starts with payload p lacks
// parameter sets the track knows, and so should get them in front.
func (ps *paramSets) missing(codec string, p []byte) bool {
	if ps.fresh || len(ps.sps) == 0 || len(ps.pps) == 0 {
		return false
	}
	var has hasSPS
	switch codec {
	case "H264":
		forEachH264(p, &has)
	case "H265":
		forEachH265(p, &has)
	default:
		return false
	}
	return !bool(has)
}

// maxAggregate bounds the payload of the packet that carries parameter sets,
// so it fits any reader's transport.
const maxAggregate = 1200

// payloads returns the RTP payloads that carry the parameter sets: one
// aggregation packet when they fit, otherwise one packet each.
func (ps *paramSets) payloads(codec string) [][]byte {
	var nals [][]byte
	if codec == "H265" && len(ps.vps) > 0 {
		nals = append(nals, ps.vps)
	}
	nals = append(nals, ps.sps, ps.pps)
	size := 2
	for _, n := range nals {
		size += 2 + len(n)
	}
	if size > maxAggregate {
		return nals
	}
	var out []byte
	if codec == "H264" {
		nri := byte(0)
		for _, n := range nals {
			nri = max(nri, n[0]&0x60)
		}
		out = append(out, nri|24)
	} else {
		out = append(out, 48<<1, 1) // aggregation packet, layer 0, TID 1
	}
	for _, n := range nals {
		out = append(out, byte(len(n)>>8), byte(len(n)))
		out = append(out, n...)
	}
	return [][]byte{out}
}
