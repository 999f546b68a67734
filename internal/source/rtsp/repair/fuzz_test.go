package repair

import (
	"bytes"
	"testing"
)

// fuzzRequests gives answers something to be matched with.
var fuzzRequests = [][]byte{
	optionsReq.bytes(),
	describeReq.bytes(),
	setupTCPReq.bytes(),
	testReq{method: "SETUP", url: camURL + "/trackID=2", cseq: 4, transport: "RTP/AVP;unicast;client_port=5000-5001"}.bytes(),
	testReq{method: "PLAY", url: camURL, cseq: 5}.bytes(),
}

// FuzzRepair feeds arbitrary camera bytes, after well-formed frames, in
// arbitrary chunks. The frames must come out first and unchanged, the output
// must not depend on the chunking, and it must stay bounded.
func FuzzRepair(f *testing.F) {
	_, _, cams := allStreams()
	for i, c := range cams {
		f.Add(uint64(i), []byte{0, 3, 'a', 'b', 'c'}, c)
	}
	f.Add(uint64(7), []byte{1, 0}, []byte("$\x00\x00\x04RTSPRTSP/1.0 200 OK\n\n"))

	f.Fuzz(func(t *testing.T, seed uint64, frameSpec, camera []byte) {
		var frames []byte
		for len(frameSpec) >= 2 {
			ch, n := frameSpec[0], int(frameSpec[1])
			frameSpec = frameSpec[2:]
			n = min(n, len(frameSpec))
			frames = append(frames, interleaved(ch, frameSpec[:n])...)
			frameSpec = frameSpec[n:]
		}
		in := append(append([]byte(nil), frames...), camera...)

		whole := runWrap(t, fuzzRequests, in, nil, 1<<16)
		rng := seed | 1
		next := func(n uint64) int {
			rng ^= rng << 13
			rng ^= rng >> 7
			rng ^= rng << 17
			return int(rng%n) + 1
		}
		split := func(b []byte) [][]byte {
			var out [][]byte
			for len(b) > 0 {
				n := min(next(64), len(b))
				out = append(out, b[:n])
				b = b[n:]
			}
			return out
		}
		pieces := runWrap(t, fuzzRequests, in, split, next(32))

		if !bytes.Equal(whole.out, pieces.out) {
			t.Fatalf("output depends on chunking:\n%q\n%q", whole.out, pieces.out)
		}
		if !bytes.HasPrefix(whole.out, frames) {
			t.Fatalf("frames changed")
		}
		if len(whole.out) > 3*len(in)+8192 {
			t.Fatalf("%d bytes out of %d", len(whole.out), len(in))
		}
	})
}
