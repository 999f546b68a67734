package stream

import (
	"testing"

	"github.com/pion/rtp"
)

// Parse returns Data parsed, for tests: the packet path never parses a
// packet again once pushLocked has marshalled it.
func (p *Packet) Parse() *rtp.Packet {
	var r rtp.Packet
	if err := r.Unmarshal(p.Data); err != nil {
		panic("stream: a packet's Data does not parse: " + err.Error())
	}
	return &r
}

// FuzzKeyDetection: payloads come straight from the network; inspecting
// them must never panic, whatever they hold.
func FuzzKeyDetection(f *testing.F) {
	for _, seed := range [][]byte{
		{0x65}, {0x78, 0, 2, 0x67, 1, 0, 1, 0x68}, {0x7c, 0x85, 1}, {0x78, 0xff, 0xff},
		{0x26, 0x01, 1}, {0x60, 0x01, 0, 3, 0x40, 1, 2}, {0x62, 0x01, 0x93}, {0x62}, {},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		for _, codec := range []string{"H264", "H265", "MJPEG"} {
			isKeyStart(codec, p)
			isPrefix(codec, p)
		}
	})
}
