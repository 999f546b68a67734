package loadtest

import (
	"bytes"
	"encoding/binary"
)

// seiUUID identifies the user_data_unregistered SEI messages written by the
// publisher. It is 16 ASCII bytes so that it is easy to spot in a hex dump.
var seiUUID = [16]byte{'r', 't', 's', 'p', 'g', 'a', 't', 'e', '-', 'l', 'o', 'a', 'd', '-', 'v', '1'}

const (
	naluTypeSEI    = 6
	naluTypeSTAPA  = 24
	naluTypeFUA    = 28
	seiTypeUserReg = 5  // user_data_unregistered
	seiPayloadSize = 32 // UUID + counter + send time
)

// Stamp is what the publisher writes into every access unit.
type Stamp struct {
	// Counter numbers the frames sent by one publisher, from 0.
	Counter uint64
	// SendNanos is the send time in Unix nanoseconds.
	SendNanos int64
}

// BuildSEI returns an SEI NAL unit (type 6) holding one
// user_data_unregistered message with the stamp, emulation prevention applied.
func BuildSEI(s Stamp) []byte {
	rbsp := make([]byte, 0, 3+seiPayloadSize+1)
	rbsp = append(rbsp, seiTypeUserReg, seiPayloadSize)
	rbsp = append(rbsp, seiUUID[:]...)
	rbsp = binary.BigEndian.AppendUint64(rbsp, s.Counter)
	rbsp = binary.BigEndian.AppendUint64(rbsp, uint64(s.SendNanos))
	rbsp = append(rbsp, 0x80) // rbsp_trailing_bits

	nalu := make([]byte, 1, 1+len(rbsp)+len(rbsp)/2)
	nalu[0] = naluTypeSEI // forbidden_zero_bit 0, nal_ref_idc 0
	return appendEmulationPrevention(nalu, rbsp)
}

// ParseSEI extracts the stamp from an SEI NAL unit (with its header byte and
// emulation prevention bytes). It returns false when the unit is not an SEI
// or holds no message of ours.
func ParseSEI(nalu []byte) (Stamp, bool) {
	if len(nalu) < 2 || nalu[0]&0x1f != naluTypeSEI {
		return Stamp{}, false
	}
	rbsp := removeEmulationPrevention(nalu[1:])

	for len(rbsp) > 1 || (len(rbsp) == 1 && rbsp[0] != 0x80) {
		typ, n := readSEIValue(rbsp)
		if n == 0 {
			return Stamp{}, false
		}
		rbsp = rbsp[n:]
		size, n := readSEIValue(rbsp)
		if n == 0 || len(rbsp)-n < size {
			return Stamp{}, false
		}
		payload := rbsp[n : n+size]
		rbsp = rbsp[n+size:]

		if typ == seiTypeUserReg && size >= seiPayloadSize && bytes.Equal(payload[:16], seiUUID[:]) {
			return Stamp{
				Counter:   binary.BigEndian.Uint64(payload[16:24]),
				SendNanos: int64(binary.BigEndian.Uint64(payload[24:32])),
			}, true
		}
	}
	return Stamp{}, false
}

// readSEIValue reads an SEI payload type or size (a run of 0xFF bytes plus a
// last byte). It returns the number of bytes used, 0 if buf is too short.
func readSEIValue(buf []byte) (int, int) {
	v := 0
	for i, b := range buf {
		v += int(b)
		if b != 0xFF {
			return v, i + 1
		}
	}
	return 0, 0
}

// appendEmulationPrevention appends rbsp to dst, inserting 0x03 after every
// two zero bytes that are followed by a byte <= 3.
func appendEmulationPrevention(dst, rbsp []byte) []byte {
	zeros := 0
	for _, b := range rbsp {
		if zeros >= 2 && b <= 3 {
			dst = append(dst, 3)
			zeros = 0
		}
		dst = append(dst, b)
		if b == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return dst
}

// removeEmulationPrevention returns buf without its emulation prevention
// bytes. It returns buf itself when there is none.
func removeEmulationPrevention(buf []byte) []byte {
	if !bytes.Contains(buf, []byte{0, 0, 3}) {
		return buf
	}
	out := make([]byte, 0, len(buf))
	zeros := 0
	for _, b := range buf {
		if zeros >= 2 && b == 3 {
			zeros = 0
			continue
		}
		out = append(out, b)
		if b == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return out
}

// InsertSEI returns the access unit with sei placed before its first slice
// (after any AUD, SPS, PPS and other SEI units, as H.264 requires).
func InsertSEI(au [][]byte, sei []byte) [][]byte {
	out := make([][]byte, 0, len(au)+1)
	inserted := false
	for _, nalu := range au {
		if !inserted && isVCL(nalu) {
			out = append(out, sei)
			inserted = true
		}
		out = append(out, nalu)
	}
	if !inserted {
		out = append(out, sei)
	}
	return out
}

func isVCL(nalu []byte) bool {
	t := nalu[0] & 0x1f
	return t >= 1 && t <= 5
}

// seiScanner finds the publisher's stamps in the payloads of H.264 RTP
// packets (RFC 6184): single NAL unit packets, STAP-A and FU-A. It keeps the
// FU-A state of one stream.
type seiScanner struct {
	fuBuf    []byte
	fuActive bool
}

// scan looks at one RTP payload and returns the stamp it completes, if any.
func (s *seiScanner) scan(payload []byte) (Stamp, bool) {
	if len(payload) < 1 {
		return Stamp{}, false
	}
	switch typ := payload[0] & 0x1f; typ {
	case naluTypeSEI:
		s.fuActive = false
		return ParseSEI(payload)

	case naluTypeSTAPA:
		s.fuActive = false
		buf := payload[1:]
		for len(buf) >= 2 {
			size := int(binary.BigEndian.Uint16(buf))
			buf = buf[2:]
			if size == 0 || size > len(buf) {
				break
			}
			if buf[0]&0x1f == naluTypeSEI {
				if st, ok := ParseSEI(buf[:size]); ok {
					return st, true
				}
			}
			buf = buf[size:]
		}
		return Stamp{}, false

	case naluTypeFUA:
		if len(payload) < 2 {
			s.fuActive = false
			return Stamp{}, false
		}
		start, end := payload[1]&0x80 != 0, payload[1]&0x40 != 0
		if start {
			s.fuActive = payload[1]&0x1f == naluTypeSEI
			if !s.fuActive {
				return Stamp{}, false
			}
			s.fuBuf = append(s.fuBuf[:0], payload[0]&0xe0|naluTypeSEI)
		} else if !s.fuActive {
			return Stamp{}, false
		}
		s.fuBuf = append(s.fuBuf, payload[2:]...)
		if end {
			s.fuActive = false
			return ParseSEI(s.fuBuf)
		}
		return Stamp{}, false

	default:
		s.fuActive = false
		return Stamp{}, false
	}
}
