package rtpfrag

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// nal makes a NAL unit of n bytes behind header hdr, with counting bytes.
func nal(n int, hdr ...byte) []byte {
	b := append([]byte(nil), hdr...)
	for i := len(b); i < n; i++ {
		b = append(b, byte(i))
	}
	return b
}

// aggregate makes an aggregation packet: head, then each unit behind its size.
func aggregate(head []byte, us ...[]byte) []byte {
	b := append([]byte(nil), head...)
	for _, u := range us {
		b = append(b, byte(len(u)>>8), byte(len(u)))
		b = append(b, u...)
	}
	return b
}

// depay reads payloads as a depayloader would and tells what it got: each
// whole NAL unit, and fragments that were not ended (or not started) as
// partial ones, so that the original and its pieces can be compared.
func depay(t testing.TB, codec string, payloads [][]byte) []string {
	t.Helper()
	var events []string
	var cur []byte
	started, open := false, false
	closeOpen := func() {
		if open {
			events = append(events, fmt.Sprintf("partial start=%v %s", started, hex.EncodeToString(cur)))
			open = false
		}
	}
	unit := func(u []byte) {
		closeOpen()
		events = append(events, "nal "+hex.EncodeToString(u))
	}
	fragment := func(hdr []byte, start, end bool, data []byte) {
		if start || !open {
			closeOpen()
			cur, started, open = append([]byte(nil), hdr...), start, true
		}
		cur = append(cur, data...)
		if end {
			if started {
				events = append(events, "nal "+hex.EncodeToString(cur))
			} else {
				events = append(events, "tail "+hex.EncodeToString(cur))
			}
			open = false
		}
	}
	body := func(b []byte) {
		for len(b) >= 2 && len(b) >= 2+(int(b[0])<<8|int(b[1])) {
			n := int(b[0])<<8 | int(b[1])
			unit(b[2 : 2+n])
			b = b[2+n:]
		}
		if len(b) != 0 { // only a payload that fits may be malformed: it is passed on as it is
			events = append(events, "malformed "+hex.EncodeToString(b))
		}
	}
	for _, p := range payloads {
		if len(p) < 3 { // too short for the fields read below (only a payload that fits)
			unit(p)
			continue
		}
		if codec == "H264" {
			switch typ := p[0] & 0x1f; {
			case typ == 24:
				body(p[1:])
			case typ == 28:
				fragment([]byte{p[0]&0xe0 | p[1]&0x1f}, p[1]&0x80 != 0, p[1]&0x40 != 0, p[2:])
			default:
				unit(p)
			}
			continue
		}
		switch typ := (p[0] >> 1) & 0x3f; typ {
		case 48:
			body(p[2:])
		case 49:
			fragment([]byte{p[0]&0x81 | (p[2]&0x3f)<<1, p[1]}, p[2]&0x80 != 0, p[2]&0x40 != 0, p[3:])
		default:
			unit(p)
		}
	}
	closeOpen()
	return events
}

func sizes(ps [][]byte) []int {
	var n []int
	for _, p := range ps {
		n = append(n, len(p))
	}
	return n
}

func TestSplit(t *testing.T) {
	sps, pps := nal(20, 0x67), nal(5, 0x68)
	idr := nal(3000, 0x65)
	vps265, sps265, pps265 := nal(24, 0x40, 0x01), nal(40, 0x42, 0x01), nal(8, 0x44, 0x01)
	idr265 := nal(3000, 0x26, 0x01) // IDR_W_RADL, layer 0, TID 1
	cases := []struct {
		name  string
		codec string
		p     []byte
		limit int
		sizes []int
		heads []string // hex of each piece's first bytes (FU: 2 or 3)
	}{
		{"h264 unit to FU-A", "H264", idr, 1400, []int{1400, 1400, 205}, []string{"7c85", "7c05", "7c45"}},
		{"h264 STAP-A: parameter sets together, IDR fragmented", "H264", aggregate([]byte{0x78}, sps, pps, idr), 1400,
			[]int{1 + 2 + 20 + 2 + 5, 1400, 1400, 205}, []string{"78", "7c85", "7c05", "7c45"}},
		{"h264 STAP-A of small units: two aggregates", "H264", aggregate([]byte{0x78}, nal(600, 0x41), nal(600, 0x41), nal(600, 0x41)), 1400,
			[]int{1 + 2*602, 600}, []string{"58", "41"}},
		{"h264 FU-A middle fragment: no start, no end", "H264", append([]byte{0x7c, 0x05}, idr[1:]...), 1400,
			[]int{1400, 1400, 205}, []string{"7c05", "7c05", "7c05"}},
		{"h264 FU-A first fragment keeps only the start", "H264", append([]byte{0x7c, 0x85}, idr[1:]...), 1400,
			[]int{1400, 1400, 205}, []string{"7c85", "7c05", "7c05"}},
		{"h264 FU-A last fragment keeps only the end", "H264", append([]byte{0x7c, 0x45}, idr[1:]...), 1400,
			[]int{1400, 1400, 205}, []string{"7c05", "7c05", "7c45"}},
		{"h264 fits: as it is", "H264", sps, 1400, []int{20}, []string{"67"}},
		{"h265 unit to FU", "H265", idr265, 1400, []int{1400, 1400, 207}, []string{"620193", "620113", "620153"}},
		{"h265 AP: parameter sets together, IDR fragmented", "H265", aggregate([]byte{0x60, 0x01}, vps265, sps265, pps265, idr265), 1400,
			[]int{2 + 2 + 24 + 2 + 40 + 2 + 8, 1400, 1400, 207}, []string{"6001", "6201", "6201", "6201"}},
		{"h265 FU middle", "H265", append([]byte{0x62, 0x01, 0x13}, idr265[2:]...), 1400,
			[]int{1400, 1400, 207}, []string{"620113", "620113", "620113"}},
	}
	var s Splitter
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			orig := bytes.Clone(c.p)
			out, err := s.Split(c.codec, c.p, c.limit)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(orig, c.p) {
				t.Fatal("the input was changed")
			}
			if got := sizes(out); fmt.Sprint(got) != fmt.Sprint(c.sizes) {
				t.Errorf("sizes %v, want %v", got, c.sizes)
			}
			for i, h := range c.heads {
				if i < len(out) && !strings.HasPrefix(hex.EncodeToString(out[i]), h) {
					t.Errorf("piece %d starts %x, want %s", i, out[i][:min(4, len(out[i]))], h)
				}
			}
			want, got := depay(t, c.codec, [][]byte{c.p}), depay(t, c.codec, out)
			if strings.Join(want, "\n") != strings.Join(got, "\n") {
				t.Errorf("pieces carry other NAL units:\n got %.200q\nwant %.200q", got, want)
			}
		})
	}
}

func TestSplitRefuses(t *testing.T) {
	big := nal(3000, 0x65)
	cases := []struct {
		name  string
		codec string
		p     []byte
		limit int
		want  error
	}{
		{"not H.26x", "VP8", big, 1400, ErrCodec},
		{"STAP-B", "H264", append([]byte{0x79}, big...), 1400, ErrType},
		{"FU-B", "H264", append([]byte{0x7d}, big...), 1400, ErrType},
		{"MTAP16", "H264", append([]byte{0x7a}, big...), 1400, ErrType},
		{"reserved type 0", "H264", append([]byte{0x60}, big...), 1400, ErrType},
		{"STAP-A that does not add up", "H264", append([]byte{0x78, 0x0f, 0xff}, big...), 1400, ErrType},
		{"STAP-A with a zero size", "H264", append([]byte{0x78, 0, 0}, big...), 1400, ErrType},
		{"H.265 PACI", "H265", append([]byte{0x64, 0x01}, big...), 1400, ErrType},
		{"no room for FU-A data", "H264", big, 2, ErrRoom},
		{"no room for FU data", "H265", nal(3000, 0x26, 0x01), 3, ErrRoom},
	}
	var s Splitter
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := s.Split(c.codec, c.p, c.limit)
			if !errors.Is(err, c.want) {
				t.Fatalf("err %v (%d pieces), want %v", err, len(out), c.want)
			}
		})
	}
}

// TestSplitNoAllocation: a Splitter that has cut one payload cuts the next
// of the same size without allocating (the stream cuts on its packet path).
func TestSplitNoAllocation(t *testing.T) {
	var s Splitter
	p := aggregate([]byte{0x78}, nal(20, 0x67), nal(5, 0x68), nal(3000, 0x65))
	if _, err := s.Split("H264", p, 1400); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = s.Split("H264", p, 1400) }); n != 0 {
		t.Errorf("%v allocations per split, want 0", n)
	}
}

// FuzzSplit: whatever the payload and size, the pieces fit the size and a
// depayloader gets the same NAL units (and unfinished fragments) from them as
// from the original.
func FuzzSplit(f *testing.F) {
	f.Add(false, uint16(1400), nal(3000, 0x65))
	f.Add(false, uint16(100), aggregate([]byte{0x78}, nal(20, 0x67), nal(5, 0x68), nal(300, 0x65)))
	f.Add(false, uint16(50), append([]byte{0x7c, 0x05}, nal(300, 0)...))
	f.Add(true, uint16(1400), nal(3000, 0x26, 0x01))
	f.Add(true, uint16(100), aggregate([]byte{0x60, 0x01}, nal(24, 0x40, 0x01), nal(40, 0x42, 0x01), nal(300, 0x26, 0x01)))
	f.Add(true, uint16(60), append([]byte{0x62, 0x01, 0x93}, nal(300, 0)...))
	var s Splitter
	f.Fuzz(func(t *testing.T, h265 bool, limit uint16, p []byte) {
		if len(p) == 0 {
			return
		}
		codec := "H264"
		if h265 {
			codec = "H265"
		}
		orig := bytes.Clone(p)
		out, err := s.Split(codec, p, int(limit))
		if !bytes.Equal(orig, p) {
			t.Fatal("the input was changed")
		}
		if err != nil {
			if len(p) <= int(limit) {
				t.Fatalf("a payload that fits was refused: %v", err)
			}
			return
		}
		for i, o := range out {
			if len(o) > int(limit) || len(o) == 0 {
				t.Fatalf("piece %d of %d bytes, limit %d", i, len(o), limit)
			}
		}
		want, got := depay(t, codec, [][]byte{p}), depay(t, codec, out)
		if strings.Join(want, "\n") != strings.Join(got, "\n") {
			t.Fatalf("pieces carry other NAL units:\n got %.300q\nwant %.300q", got, want)
		}
	})
}
