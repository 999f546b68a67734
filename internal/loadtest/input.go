package loadtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

const (
	naluTypeIDR = 5
	naluTypeSPS = 7
	naluTypePPS = 8
	naluTypeAUD = 9

	// maxInputBytes bounds the size of an input file loaded into memory.
	maxInputBytes = 512 << 20
)

// Input is an H.264 elementary stream split into access units, ready to be
// looped by the publisher.
type Input struct {
	// AUs are the access units in decoding order; the first one is an IDR.
	AUs [][][]byte
	// SPS and PPS are the first parameter sets of the stream.
	SPS, PPS []byte
	// Bytes is the total size of the NAL units of all AUs.
	Bytes int
}

// LoadInput reads an H.264 Annex-B file.
func LoadInput(path string) (*Input, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Size() > maxInputBytes {
		return nil, fmt.Errorf("input %s: %d bytes, more than the %d allowed", path, st.Size(), maxInputBytes)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	in, err := ParseAnnexB(data)
	if err != nil {
		return nil, fmt.Errorf("input %s: %w", path, err)
	}
	return in, nil
}

// ParseAnnexB splits an Annex-B byte stream into access units. Access unit
// delimiters are dropped; access units before the first IDR are skipped.
func ParseAnnexB(data []byte) (*Input, error) {
	nalus := splitAnnexB(data)
	if len(nalus) == 0 {
		return nil, errors.New("no H.264 NAL units found (is it an Annex-B .h264 file?)")
	}
	in := &Input{}
	for _, au := range groupAccessUnits(nalus) {
		if len(in.AUs) == 0 && !hasNALUType(au, naluTypeIDR) {
			continue
		}
		for _, nalu := range au {
			switch nalu[0] & 0x1f {
			case naluTypeSPS:
				if in.SPS == nil {
					in.SPS = nalu
				}
			case naluTypePPS:
				if in.PPS == nil {
					in.PPS = nalu
				}
			}
			in.Bytes += len(nalu)
		}
		in.AUs = append(in.AUs, au)
	}
	switch {
	case len(in.AUs) == 0:
		return nil, errors.New("no IDR access unit found")
	case in.SPS == nil || in.PPS == nil:
		return nil, errors.New("no SPS/PPS found")
	}
	return in, nil
}

// splitAnnexB returns the NAL units between start codes (00 00 01 or
// 00 00 00 01), without trailing zero bytes.
func splitAnnexB(data []byte) [][]byte {
	var out [][]byte
	start := -1
	for i := 0; i+2 < len(data); {
		if data[i] == 0 && data[i+1] == 0 && data[i+2] == 1 {
			if start >= 0 {
				out = appendNALU(out, data[start:i])
			}
			i += 3
			start = i
			continue
		}
		i++
	}
	if start >= 0 {
		out = appendNALU(out, data[start:])
	}
	return out
}

func appendNALU(out [][]byte, nalu []byte) [][]byte {
	nalu = bytes.TrimRight(nalu, "\x00")
	if len(nalu) == 0 || nalu[0]&0x80 != 0 {
		return out
	}
	return append(out, nalu)
}

// groupAccessUnits groups NAL units into access units following ITU-T H.264
// 7.4.1.2.3: a new access unit starts with an AUD, SPS, PPS, SEI or types
// 14..18 after a slice, or with a slice whose first_mb_in_slice is 0.
func groupAccessUnits(nalus [][]byte) [][][]byte {
	var aus [][][]byte
	var cur [][]byte
	hasVCL := false
	for _, nalu := range nalus {
		t := nalu[0] & 0x1f
		newAU := false
		switch {
		case t == naluTypeAUD || t == naluTypeSPS || t == naluTypePPS || t == naluTypeSEI || (t >= 14 && t <= 18):
			newAU = hasVCL
		case t >= 1 && t <= 5:
			firstMBZero := len(nalu) > 1 && nalu[1]&0x80 != 0
			newAU = hasVCL && firstMBZero
		}
		if newAU {
			aus = append(aus, cur)
			cur, hasVCL = nil, false
		}
		if t == naluTypeAUD {
			continue
		}
		cur = append(cur, nalu)
		if t >= 1 && t <= 5 {
			hasVCL = true
		}
	}
	if hasVCL {
		aus = append(aus, cur)
	}
	return aus
}

// GOP returns the number of access units from one IDR to the next (the
// first interval), or the length of the input when it holds one IDR.
func (in *Input) GOP() int {
	for i := 1; i < len(in.AUs); i++ {
		if hasNALUType(in.AUs[i], naluTypeIDR) {
			return i
		}
	}
	return len(in.AUs)
}

func hasNALUType(au [][]byte, t byte) bool {
	for _, nalu := range au {
		if nalu[0]&0x1f == t {
			return true
		}
	}
	return false
}

// InputPreset describes an input that MakeInput generates with ffmpeg.
type InputPreset struct {
	Width, Height int
	// Bitrate is the target (and maximum) bitrate in bits per second.
	Bitrate int
}

// LookupInputPreset returns the preset of a name accepted by MakeInput:
// 1080p (6 Mbit/s), 720p (3 Mbit/s), 480p (1.5 Mbit/s) or 240p (400 kbit/s).
func LookupInputPreset(name string) (InputPreset, bool) {
	switch name {
	case "1080p":
		return InputPreset{Width: 1920, Height: 1080, Bitrate: 6_000_000}, true
	case "720p":
		return InputPreset{Width: 1280, Height: 720, Bitrate: 3_000_000}, true
	case "480p":
		return InputPreset{Width: 848, Height: 480, Bitrate: 1_500_000}, true
	case "240p":
		return InputPreset{Width: 320, Height: 240, Bitrate: 400_000}, true
	}
	return InputPreset{}, false
}

// MakeInputConfig tells MakeInput what to generate and where to cache it.
type MakeInputConfig struct {
	// Preset is a name known to LookupInputPreset.
	Preset string
	// CacheDir holds generated files; it is created if missing.
	CacheDir string
	// FFmpeg is the ffmpeg binary; "ffmpeg" from PATH if empty.
	FFmpeg string
	// Seconds is the length of the clip, 10 if 0, rounded up to a whole
	// number of GOPs so that the loop keeps the keyframe interval. The
	// publisher loops it.
	Seconds int
	// Bitrate overrides the preset's bitrate (bits per second) if not 0.
	Bitrate int
	// GOPSeconds is the keyframe interval in seconds, 2 if 0.
	GOPSeconds int
}

// Bounds of generated inputs.
const (
	MinInputBitrate = 100_000
	MaxInputBitrate = 50_000_000
	MaxGOPSeconds   = 30
)

// DefaultCacheDir is where generated inputs are kept between runs.
func DefaultCacheDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "rtspgate-load")
	}
	return filepath.Join(os.TempDir(), "rtspgate-load")
}

// MakeInput generates (once; later calls reuse the cached file) a 30 fps
// H.264 clip of testsrc2 with temporal noise so that the encoder really needs
// the bitrate, and returns its path.
func MakeInput(ctx context.Context, cfg MakeInputConfig) (string, error) {
	p, ok := LookupInputPreset(cfg.Preset)
	if !ok {
		return "", fmt.Errorf("unknown input preset %q (want one of 1080p, 720p, 480p, 240p)", cfg.Preset)
	}
	if cfg.Bitrate != 0 {
		if cfg.Bitrate < MinInputBitrate || cfg.Bitrate > MaxInputBitrate {
			return "", fmt.Errorf("input bitrate %d: want %d..%d bit/s", cfg.Bitrate, MinInputBitrate, MaxInputBitrate)
		}
		p.Bitrate = cfg.Bitrate
	}
	if cfg.GOPSeconds == 0 {
		cfg.GOPSeconds = 2
	}
	if cfg.GOPSeconds < 1 || cfg.GOPSeconds > MaxGOPSeconds {
		return "", fmt.Errorf("GOP %d s: want 1..%d", cfg.GOPSeconds, MaxGOPSeconds)
	}
	if cfg.Seconds <= 0 {
		cfg.Seconds = 10
	}
	cfg.Seconds = (cfg.Seconds + cfg.GOPSeconds - 1) / cfg.GOPSeconds * cfg.GOPSeconds
	if cfg.Seconds > 60 {
		return "", fmt.Errorf("input length %d s: at most 60 s", cfg.Seconds)
	}
	ffmpeg := cfg.FFmpeg
	if ffmpeg == "" {
		ffmpeg = "ffmpeg"
	}
	if cfg.CacheDir == "" {
		cfg.CacheDir = DefaultCacheDir()
	}

	args := []string{
		"-f", "lavfi",
		"-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=30,noise=alls=16:allf=t", p.Width, p.Height),
		"-t", fmt.Sprint(cfg.Seconds),
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
		"-b:v", fmt.Sprint(p.Bitrate), "-maxrate", fmt.Sprint(p.Bitrate), "-bufsize", fmt.Sprint(p.Bitrate / 6),
		// A fixed keyframe interval: no scene-cut keyframes in between.
		"-g", fmt.Sprint(30 * cfg.GOPSeconds), "-keyint_min", fmt.Sprint(30 * cfg.GOPSeconds), "-sc_threshold", "0",
		"-bf", "0", "-pix_fmt", "yuv420p",
		// SPS/PPS before every IDR, so that every loop and late joiner can decode.
		"-x264-params", "repeat-headers=1",
		"-f", "h264",
	}
	sum := sha256.Sum256([]byte(strings.Join(args, " ")))
	name := fmt.Sprintf("%s-%dk-gop%ds-%ds-%s.h264", cfg.Preset, p.Bitrate/1000, cfg.GOPSeconds, cfg.Seconds, hex.EncodeToString(sum[:4]))
	path := filepath.Join(cfg.CacheDir, name)
	if st, err := os.Stat(path); err == nil && st.Size() > 0 {
		return path, nil
	}

	if err := os.MkdirAll(cfg.CacheDir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(cfg.CacheDir, ".gen-*.h264")
	if err != nil {
		return "", err
	}
	tmpPath := tmp.Name()
	tmp.Close()
	defer os.Remove(tmpPath)

	full := append([]string{"-hide_banner", "-loglevel", "error", "-nostdin", "-y"}, args...)
	full = append(full, tmpPath)
	cmd := exec.CommandContext(ctx, ffmpeg, full...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("ffmpeg: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	if err := os.Rename(tmpPath, path); err != nil {
		return "", err
	}
	return path, nil
}
