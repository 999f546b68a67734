package loadtest

import (
	"encoding/binary"
	"testing"
)

// Payloads of H.264 RTP packets for the detector's tests.
var (
	kfSPS = mustHex("6742c00dda0507ec0440000003004000000f23c50aa8")
	kfPPS = mustHex("68ce0fc8")
)

func stapA(nalus ...[]byte) []byte {
	p := []byte{0x78} // nal_ref_idc 3, type 24
	for _, n := range nalus {
		p = binary.BigEndian.AppendUint16(p, uint16(len(n)))
		p = append(p, n...)
	}
	return p
}

// fuA returns the fragment of a NAL unit of type t (its header byte is
// 0x60|t) with the given start and end bits.
func fuA(t byte, start, end bool, body ...byte) []byte {
	h := t
	if start {
		h |= 0x80
	}
	if end {
		h |= 0x40
	}
	return append([]byte{0x7c, h}, body...)
}

// idrSlice is the first byte after the NAL header of a slice with
// first_mb_in_slice 0; otherSlice one with first_mb_in_slice > 0.
const (
	firstSlice = 0x88
	otherSlice = 0x08
)

type kfPacket struct {
	seq     uint16
	ts      uint32
	marker  bool
	payload []byte
}

// feed gives the packets to a new detector and returns the index of the
// packet that completed a keyframe, -1 if none, and the detector.
func feed(pkts []kfPacket) (int, *keyframeDetector) {
	d := &keyframeDetector{}
	for i, p := range pkts {
		if d.packet(rtpPacket(p.seq, p.ts, p.marker, p.payload)) {
			return i, d
		}
	}
	return -1, d
}

// keyframe returns the packets of an IDR access unit at ts from seq:
// SPS, PPS and SEI in a STAP-A, then one IDR slice in three fragments.
func keyframe(seq uint16, ts uint32, counter uint64) []kfPacket {
	sei := BuildSEI(Stamp{Counter: counter, SendNanos: int64(counter) * 1000})
	return []kfPacket{
		{seq, ts, false, stapA(kfSPS, kfPPS, sei)},
		{seq + 1, ts, false, fuA(5, true, false, firstSlice, 1, 2)},
		{seq + 2, ts, false, fuA(5, false, false, 3, 4)},
		{seq + 3, ts, true, fuA(5, false, true, 5, 6)},
	}
}

func pframe(seq uint16, ts uint32) []kfPacket {
	return []kfPacket{
		{seq, ts, false, fuA(1, true, false, firstSlice, 1)},
		{seq + 1, ts, true, fuA(1, false, true, 2)},
	}
}

func TestKeyframeDetector(t *testing.T) {
	cat := func(parts ...[]kfPacket) []kfPacket {
		var out []kfPacket
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	kf := keyframe(100, 9000, 7)
	drop := func(pkts []kfPacket, i int) []kfPacket {
		return append(append([]kfPacket(nil), pkts[:i]...), pkts[i+1:]...)
	}

	cases := []struct {
		name string
		pkts []kfPacket
		want int // index of the completing packet, -1 for none
	}{
		{"keyframe with its parameter sets", kf, 3},
		{"after P frames", cat(pframe(96, 3000), pframe(98, 6000), kf), 7},
		{"joined inside a keyframe, the next one counts",
			cat(kf[2:], pframe(104, 12000), keyframe(106, 15000, 8)), 7},
		{"fragment lost, the next keyframe counts",
			cat(drop(kf, 2), keyframe(104, 12000, 8)), 6},
		{"parameter-set packet lost, the next keyframe counts",
			cat(kf[1:], keyframe(104, 12000, 8)), 6},
		{"marker lost: the unit never ends", cat(kf[:3], pframe(104, 12000)), -1},
		{"no parameter sets ever", []kfPacket{
			{100, 9000, false, fuA(5, true, false, firstSlice, 1)},
			{101, 9000, true, fuA(5, false, true, 2)},
		}, -1},
		{"parameter sets before, in their own packets", []kfPacket{
			{100, 9000, false, kfSPS},
			{101, 9000, false, kfPPS},
			{102, 9000, true, append([]byte{0x65, firstSlice}, 1, 2)},
		}, 2},
		{"parameter sets of an earlier keyframe count", cat(
			[]kfPacket{{99, 6000, true, stapA(kfSPS, kfPPS)}},
			[]kfPacket{{100, 9000, true, append([]byte{0x65, firstSlice}, 1)}},
		), 1},
		{"joined at a later slice of the keyframe", []kfPacket{
			{90, 3000, true, stapA(kfSPS, kfPPS)}, // an earlier unit: its marker is not contiguous
			{100, 9000, true, append([]byte{0x65, otherSlice}, 1)},
		}, -1},
		{"a later slice right after a marker is still a start", []kfPacket{
			{99, 6000, true, stapA(kfSPS, kfPPS)},
			{100, 9000, true, append([]byte{0x65, otherSlice}, 1)},
		}, 1},
		{"two slices, the second lost", []kfPacket{
			{100, 9000, false, stapA(kfSPS, kfPPS)},
			{101, 9000, false, append([]byte{0x65, firstSlice}, 1)},
			{103, 9000, true, append([]byte{0x65, otherSlice}, 1)},
		}, -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := feed(tc.pkts)
			if got != tc.want {
				t.Fatalf("completed at packet %d, want %d", got, tc.want)
			}
		})
	}

	// The keyframe's stamp is read from its SEI.
	if _, d := feed(cat(pframe(96, 3000), kf)); !d.hasStamp || d.stamp.Counter != 7 || d.stamp.SendNanos != 7000 {
		t.Fatalf("stamp %+v (found %v)", d.stamp, d.hasStamp)
	}
}

func TestStartsAccessUnit(t *testing.T) {
	for _, tc := range []struct {
		payload []byte
		want    bool
	}{
		{kfSPS, true},
		{stapA(kfSPS, kfPPS), true},
		{[]byte{0x06, 5, 1}, true}, // SEI
		{[]byte{0x65, firstSlice}, true},
		{[]byte{0x65, otherSlice}, false},
		{[]byte{0x41, firstSlice}, true},
		{fuA(5, true, false, firstSlice), true},
		{fuA(5, true, false, otherSlice), false},
		{fuA(5, false, false, firstSlice), false},
		{[]byte{0x65}, false},
		{[]byte{0x78, 0}, false},
	} {
		if got := startsAccessUnit(tc.payload); got != tc.want {
			t.Errorf("startsAccessUnit(% x) = %v, want %v", tc.payload, got, tc.want)
		}
	}
}
