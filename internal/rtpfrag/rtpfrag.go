// Package rtpfrag cuts H.264 (RFC 6184) and H.265 (RFC 7798) RTP payloads
// that are too big for a reader's transport into payloads of at most a given
// size: a NAL unit into fragmentation units (FU-A, FU), an aggregation packet
// (STAP-A, AP) into its units, packed again as long as they fit, and an
// oversized fragment into smaller fragments of the same NAL unit. A
// depayloader gets the same NAL units from the pieces as from the original.
//
// H.265 payloads are taken without DONL fields (sprop-max-don-diff 0, what
// cameras send).
package rtpfrag

import "errors"

// Errors of Split.
var (
	// ErrCodec: only H.264 and H.265 payloads can be cut.
	ErrCodec = errors.New("rtpfrag: only H.264 and H.265 payloads can be cut")
	// ErrType: a payload type that has no smaller form here (STAP-B, MTAP,
	// FU-B, PACI, reserved types) or that is malformed.
	ErrType = errors.New("rtpfrag: this payload cannot be cut")
	// ErrRoom: the size leaves no room for a fragment's headers and data.
	ErrRoom = errors.New("rtpfrag: no room for a fragment in that size")
)

// Splitter cuts payloads. It keeps its memory from one call to the next: the
// payloads a call returns are valid until the next call. The zero value is
// ready; it is not safe for concurrent use.
type Splitter struct {
	buf   []byte
	ends  []int
	out   [][]byte
	units [][]byte // of the aggregation packet being cut
}

// Split returns payloads of at most limit bytes that carry payload p of codec
// ("H264" or "H265"), in order. A payload of at most limit bytes comes back as
// it is.
func (s *Splitter) Split(codec string, p []byte, limit int) ([][]byte, error) {
	s.buf, s.ends, s.out = s.buf[:0], s.ends[:0], s.out[:0]
	if len(p) <= limit {
		return append(s.out, p), nil
	}
	var err error
	switch codec {
	case "H264":
		err = s.h264(p, limit)
	case "H265":
		err = s.h265(p, limit)
	default:
		err = ErrCodec
	}
	clear(s.units) // no references into the caller's payload
	s.units = s.units[:0]
	if err != nil {
		return nil, err
	}
	start := 0
	for _, end := range s.ends {
		s.out = append(s.out, s.buf[start:end:end])
		start = end
	}
	return s.out, nil
}

func (s *Splitter) h264(p []byte, limit int) error {
	switch t := p[0] & 0x1f; {
	case t >= 1 && t <= 23:
		return s.h264Unit(p, limit)
	case t == 24: // STAP-A
		if !s.split(p[1:], 1, func(u []byte) bool { t := u[0] & 0x1f; return t >= 1 && t <= 23 }) {
			return ErrType
		}
		return s.pack("H264", 1, limit)
	case t == 28: // FU-A
		if len(p) < 3 {
			return ErrType
		}
		return s.fragments(p[:2], p[2:], limit, p[1]&0x80 != 0, p[1]&0x40 != 0)
	}
	return ErrType
}

// h264Unit adds NAL unit u, as an FU-A when it is too big.
func (s *Splitter) h264Unit(u []byte, limit int) error {
	if len(u) <= limit {
		s.piece(u)
		return nil
	}
	if len(u) < 2 {
		return ErrRoom
	}
	head := [2]byte{u[0]&0xe0 | 28, u[0] & 0x1f}
	return s.fragments(head[:], u[1:], limit, true, true)
}

func (s *Splitter) h265(p []byte, limit int) error {
	if len(p) < 3 {
		return ErrType
	}
	switch t := (p[0] >> 1) & 0x3f; {
	case t <= 47:
		return s.h265Unit(p, limit)
	case t == 48: // aggregation packet
		if !s.split(p[2:], 2, func(u []byte) bool { return (u[0]>>1)&0x3f <= 47 }) {
			return ErrType
		}
		return s.pack("H265", 2, limit)
	case t == 49: // fragmentation unit
		if len(p) < 4 || p[2]&0x3f > 47 {
			return ErrType
		}
		return s.fragments(p[:3], p[3:], limit, p[2]&0x80 != 0, p[2]&0x40 != 0)
	}
	return ErrType
}

// h265Unit adds NAL unit u, as fragmentation units when it is too big.
func (s *Splitter) h265Unit(u []byte, limit int) error {
	if len(u) <= limit {
		s.piece(u)
		return nil
	}
	if len(u) < 3 {
		return ErrRoom
	}
	// the payload header is the unit's with type 49 (F, layer and TID kept)
	head := [3]byte{u[0]&0x81 | 49<<1, u[1], (u[0] >> 1) & 0x3f}
	return s.fragments(head[:], u[2:], limit, true, true)
}

// split collects the units of an aggregation packet's body (each behind a
// 16-bit size) in s.units; false when they do not add up, or one is shorter
// than minLen or not of a type ok accepts.
func (s *Splitter) split(body []byte, minLen int, ok func(u []byte) bool) bool {
	if len(body) == 0 {
		return false
	}
	for len(body) > 0 {
		if len(body) < 2 {
			return false
		}
		n := int(body[0])<<8 | int(body[1])
		if n < minLen || len(body) < 2+n || !ok(body[2:2+n]) {
			return false
		}
		s.units = append(s.units, body[2:2+n])
		body = body[2+n:]
	}
	return true
}

// pack adds s.units: as many as fit go together in one aggregation packet
// (with a header of hdr bytes), a unit that fits with no other goes alone,
// and one too big alone is fragmented.
func (s *Splitter) pack(codec string, hdr, limit int) error {
	first, size := 0, hdr
	for i, u := range s.units {
		if i > first && size+2+len(u) > limit {
			if err := s.group(codec, s.units[first:i], limit); err != nil {
				return err
			}
			first, size = i, hdr
		}
		size += 2 + len(u)
	}
	return s.group(codec, s.units[first:], limit)
}

// group adds units that go together: one alone as itself, several as one
// aggregation packet.
func (s *Splitter) group(codec string, us [][]byte, limit int) error {
	if len(us) == 1 {
		if codec == "H264" {
			return s.h264Unit(us[0], limit)
		}
		return s.h265Unit(us[0], limit)
	}
	if codec == "H264" {
		// F set if any unit has it, NRI the highest
		var f, nri byte
		for _, u := range us {
			f |= u[0] & 0x80
			nri = max(nri, u[0]&0x60)
		}
		s.buf = append(s.buf, f|nri|24)
	} else {
		// F set if any unit has it, layer and TID the lowest
		var f byte
		layer, tid := byte(63), byte(7)
		for _, u := range us {
			f |= u[0] & 0x80
			layer = min(layer, (u[0]&1)<<5|u[1]>>3)
			tid = min(tid, u[1]&7)
		}
		s.buf = append(s.buf, f|48<<1|layer>>5, (layer&0x1f)<<3|tid)
	}
	for _, u := range us {
		s.buf = append(s.buf, byte(len(u)>>8), byte(len(u)))
		s.buf = append(s.buf, u...)
	}
	s.ends = append(s.ends, len(s.buf))
	return nil
}

// piece adds one payload as it is.
func (s *Splitter) piece(p []byte) {
	s.buf = append(s.buf, p...)
	s.ends = append(s.ends, len(s.buf))
}

// fragments adds the fragments of data, each behind head: the fragment's
// headers, the last byte of which holds the start and end bits. start and
// end say whether the first and the last fragment set them.
func (s *Splitter) fragments(head, data []byte, limit int, start, end bool) error {
	room := limit - len(head)
	if room < 1 {
		return ErrRoom
	}
	last := len(head) - 1
	bits := head[last] &^ 0xc0
	for len(data) > 0 {
		n := min(room, len(data))
		h := bits
		if start {
			h |= 0x80
			start = false
		}
		if n == len(data) && end {
			h |= 0x40
		}
		s.buf = append(s.buf, head[:last]...)
		s.buf = append(s.buf, h)
		s.buf = append(s.buf, data[:n]...)
		s.ends = append(s.ends, len(s.buf))
		data = data[n:]
	}
	return nil
}
