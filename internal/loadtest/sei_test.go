package loadtest

import (
	"bytes"
	"testing"

	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
)

func TestSEIRoundTrip(t *testing.T) {
	for _, st := range []Stamp{
		{Counter: 0, SendNanos: 0},
		{Counter: 1, SendNanos: 1_764_000_000_123_456_789},
		{Counter: 0x0000000300000000, SendNanos: 0x0000000100000003},
		{Counter: ^uint64(0), SendNanos: -1},
	} {
		sei := BuildSEI(st)
		if sei[0] != naluTypeSEI {
			t.Fatalf("NAL header %#x", sei[0])
		}
		// No start code may appear inside the unit.
		for i := 0; i+2 < len(sei); i++ {
			if sei[i] == 0 && sei[i+1] == 0 && sei[i+2] <= 2 {
				t.Fatalf("stamp %+v: start code emulation at %d in %x", st, i, sei)
			}
		}
		got, ok := ParseSEI(sei)
		if !ok || got != st {
			t.Fatalf("round trip of %+v: got %+v, %v", st, got, ok)
		}
	}
}

func TestParseSEIIgnoresOthers(t *testing.T) {
	// x264's own user_data_unregistered SEI, cut short.
	x264 := []byte{0x06, 0x05, 0x08, 0xdc, 0x45, 0xe9, 0xbd, 0xe6, 0xd9, 0x48, 0xb7, 0x80}
	if _, ok := ParseSEI(x264); ok {
		t.Fatal("x264 SEI taken for ours")
	}
	// Another message first, then ours: both in one SEI unit.
	ours := BuildSEI(Stamp{Counter: 7, SendNanos: 42})
	multi := append([]byte{0x06, 0x01, 0x01, 0xaa}, ours[1:]...)
	if st, ok := ParseSEI(multi); !ok || st.Counter != 7 {
		t.Fatalf("second message: %+v %v", st, ok)
	}
	if _, ok := ParseSEI([]byte{0x65, 0x88}); ok {
		t.Fatal("slice taken for SEI")
	}
}

func TestInsertSEI(t *testing.T) {
	sps, pps := []byte{0x67, 1}, []byte{0x68, 2}
	slice1, slice2 := []byte{0x65, 0x88, 3}, []byte{0x65, 0x08, 4}
	sei := BuildSEI(Stamp{Counter: 1})
	got := InsertSEI([][]byte{sps, pps, slice1, slice2}, sei)
	want := [][]byte{sps, pps, sei, slice1, slice2}
	if len(got) != len(want) {
		t.Fatalf("got %d units", len(got))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("unit %d: got %x want %x", i, got[i], want[i])
		}
	}
}

// TestSEIScanner packetizes access units with gortsplib's encoder and checks
// that the scanner finds the stamp in each packetization mode.
func TestSEIScanner(t *testing.T) {
	sps := mustHex("6742c00dda0507ec0440000003004000000f23c50aa8")
	pps := mustHex("68ce0fc8")
	big := append([]byte{0x65, 0x88}, bytes.Repeat([]byte{0x5a}, 3000)...)
	small := []byte{0x41, 0x9a, 0x11, 0x22}

	cases := []struct {
		name       string
		au         [][]byte
		maxPayload int
		wantType   byte // NAL type of the packet that carries the SEI start
	}{
		{"single NAL", [][]byte{big}, 0, naluTypeSEI},
		{"STAP-A", [][]byte{sps, pps, small}, 0, naluTypeSTAPA},
		{"FU-A", [][]byte{big}, 20, naluTypeFUA},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			enc := &rtph264.Encoder{PayloadType: 96, PacketizationMode: 1, PayloadMaxSize: tc.maxPayload}
			if err := enc.Init(); err != nil {
				t.Fatal(err)
			}
			var sc seiScanner
			for counter := uint64(0); counter < 3; counter++ {
				want := Stamp{Counter: counter, SendNanos: 1_700_000_000_000_000_000 + int64(counter)}
				pkts, err := enc.Encode(InsertSEI(tc.au, BuildSEI(want)))
				if err != nil {
					t.Fatal(err)
				}
				found := 0
				sawType := false
				for _, p := range pkts {
					if p.Payload[0]&0x1f == tc.wantType {
						sawType = true
					}
					if st, ok := sc.scan(p.Payload); ok {
						found++
						if st != want {
							t.Fatalf("got %+v want %+v", st, want)
						}
					}
				}
				if found != 1 || !sawType {
					t.Fatalf("counter %d: found %d stamps, packet type %d seen: %v", counter, found, tc.wantType, sawType)
				}
			}
		})
	}
}
