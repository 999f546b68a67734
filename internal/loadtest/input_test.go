package loadtest

import (
	"bytes"
	"context"
	"encoding/hex"
	"os/exec"
	"testing"
	"time"
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// syntheticInput builds an input without ffmpeg: a real 320x240 SPS/PPS, then
// slice units that look like H.264 (IDR every gop frames, two slices per
// frame as x264's sliced threads write them). No decoder would show them,
// but nothing on the way decodes.
func syntheticInput(frames, gop int) *Input {
	in := &Input{
		SPS: mustHex("6742c00dda0507ec0440000003004000000f23c50aa8"),
		PPS: mustHex("68ce0fc8"),
	}
	body := func(n int, seed byte) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i)*7 + seed | 1 // never 0: no start code emulation
		}
		return b
	}
	for i := range frames {
		var au [][]byte
		if i%gop == 0 {
			au = [][]byte{in.SPS, in.PPS,
				append([]byte{0x65, 0x88}, body(6000, byte(i))...),
				append([]byte{0x65, 0x08}, body(6000, byte(i))...)}
		} else {
			au = [][]byte{
				append([]byte{0x41, 0x9a}, body(900, byte(i))...),
				append([]byte{0x41, 0x1a}, body(900, byte(i))...)}
		}
		for _, n := range au {
			in.Bytes += len(n)
		}
		in.AUs = append(in.AUs, au)
	}
	return in
}

func annexB(aus [][][]byte) []byte {
	var b bytes.Buffer
	for _, au := range aus {
		b.Write([]byte{0, 0, 0, 1, 0x09, 0xf0}) // AUD
		for _, n := range au {
			b.Write([]byte{0, 0, 1})
			b.Write(n)
		}
	}
	return b.Bytes()
}

func TestParseAnnexB(t *testing.T) {
	src := syntheticInput(10, 5)
	// A P frame before the first IDR is skipped.
	lead := [][][]byte{{{0x41, 0x9a, 1}}}
	in, err := ParseAnnexB(annexB(append(lead, src.AUs...)))
	if err != nil {
		t.Fatal(err)
	}
	if len(in.AUs) != len(src.AUs) {
		t.Fatalf("got %d access units, want %d", len(in.AUs), len(src.AUs))
	}
	for i := range src.AUs {
		if len(in.AUs[i]) != len(src.AUs[i]) {
			t.Fatalf("AU %d: %d units, want %d", i, len(in.AUs[i]), len(src.AUs[i]))
		}
		for j := range src.AUs[i] {
			if !bytes.Equal(in.AUs[i][j], src.AUs[i][j]) {
				t.Fatalf("AU %d unit %d differs", i, j)
			}
		}
	}
	if !bytes.Equal(in.SPS, src.SPS) || !bytes.Equal(in.PPS, src.PPS) {
		t.Fatal("SPS/PPS not found")
	}
	if _, err := ParseAnnexB([]byte("not h264")); err == nil {
		t.Fatal("garbage accepted")
	}
}

// TestMakeInput generates short 240p clips with ffmpeg when it is installed:
// the keyframe interval asked for, and a cache entry per set of parameters.
func TestMakeInput(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	cfg := MakeInputConfig{Preset: "240p", CacheDir: dir, Seconds: 1, GOPSeconds: 1}
	path, err := MakeInput(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	in, err := LoadInput(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(in.AUs) != 30 {
		t.Fatalf("%d access units, want 30", len(in.AUs))
	}
	again, err := MakeInput(ctx, cfg)
	if err != nil || again != path {
		t.Fatalf("cache miss: %q %v", again, err)
	}

	// 3 s asked with 2 s GOPs: 4 s, so that the loop keeps the interval.
	cfg.Seconds, cfg.GOPSeconds, cfg.Bitrate = 3, 2, 200_000
	other, err := MakeInput(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if other == path {
		t.Fatal("other parameters, same cache file")
	}
	in, err = LoadInput(other)
	if err != nil {
		t.Fatal(err)
	}
	if len(in.AUs) != 120 || in.GOP() != 60 {
		t.Fatalf("%d access units, GOP %d; want 120 and 60", len(in.AUs), in.GOP())
	}
	if _, err := MakeInput(ctx, MakeInputConfig{Preset: "240p", CacheDir: dir, GOPSeconds: 31}); err == nil {
		t.Fatal("a 31 s GOP accepted")
	}
}
