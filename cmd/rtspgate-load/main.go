// Command rtspgate-load measures an RTSP server's fan-out: one publisher at
// real-time pace, N TCP or UDP readers, delivery, latency and the server's CPU and
// RSS, against a byte relay measured the same way; many fake cameras pulled
// by the server; and the time a new reader waits for its first keyframe.
// See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rtspgate/rtspgate/internal/loadtest"
)

const usage = `usage: rtspgate-load <command> [flags]

commands:
  run         publish one stream, play it with N readers, report
  relay       serve the byte relay (the floor) until interrupted
  compare     relay then target for each reader count, markdown table
  cameras     M fake cameras pulled by the target, K readers each, table
  first-frame time from PLAY to the first complete keyframe, warm and cold
  make-input  generate (or find cached) an input clip and print its path

"rtspgate-load <command> -h" lists a command's flags.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "run":
		err = cmdRun(ctx, args)
	case "relay":
		err = cmdRelay(ctx, args)
	case "compare":
		err = cmdCompare(ctx, args)
	case "cameras":
		err = cmdCameras(ctx, args)
	case "first-frame", "ttff":
		err = cmdFirstFrame(ctx, args)
	case "make-input":
		err = cmdMakeInput(ctx, args)
	case "-h", "-help", "--help", "help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "rtspgate-load:", err)
		os.Exit(1)
	}
}

func newLogger(verbose bool) *slog.Logger {
	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// inputFlags are the flags that choose the publisher's input.
type inputFlags struct {
	file, preset, cacheDir, ffmpeg, bitrate string
	gopSeconds                              int
}

// register adds the flags; preset and bitrate are the defaults of
// -make-input and -bitrate ("" keeps the preset's).
func (f *inputFlags) register(fs *flag.FlagSet, preset, bitrate string) {
	fs.StringVar(&f.file, "input", "", "H.264 Annex-B file to loop (overrides -make-input)")
	fs.StringVar(&f.preset, "make-input", preset, "generate the input with ffmpeg: 1080p (6 Mbit/s), 720p (3), 480p (1.5) or 240p (0.4)")
	fs.StringVar(&f.bitrate, "bitrate", bitrate, `bitrate of the generated input, e.g. 2M or 1500k ("": the preset's)`)
	fs.IntVar(&f.gopSeconds, "gop-seconds", 2, fmt.Sprintf("keyframe interval of the generated input, 1..%d s", loadtest.MaxGOPSeconds))
	fs.StringVar(&f.cacheDir, "cache-dir", loadtest.DefaultCacheDir(), "where generated inputs are kept (one file per set of parameters)")
	fs.StringVar(&f.ffmpeg, "ffmpeg", "ffmpeg", "ffmpeg binary for -make-input")
}

func (f *inputFlags) path(ctx context.Context) (string, error) {
	if f.file != "" {
		return f.file, nil
	}
	bps, err := parseBitrate(f.bitrate)
	if err != nil {
		return "", err
	}
	return loadtest.MakeInput(ctx, loadtest.MakeInputConfig{
		Preset: f.preset, CacheDir: f.cacheDir, FFmpeg: f.ffmpeg, Bitrate: bps, GOPSeconds: f.gopSeconds,
	})
}

func (f *inputFlags) load(ctx context.Context, log *slog.Logger) (*loadtest.Input, error) {
	path, err := f.path(ctx)
	if err != nil {
		return nil, err
	}
	in, err := loadtest.LoadInput(path)
	if err != nil {
		return nil, err
	}
	log.Info("input loaded", "path", path, "access_units", len(in.AUs), "gop_frames", in.GOP(),
		"mbit_s_at_30fps", fmt.Sprintf("%.2f", float64(in.Bytes)*8*30/float64(len(in.AUs))/1e6))
	return in, nil
}

// parseBitrate reads "2M", "1500k" or "2000000" (bits per second); "" is 0.
func parseBitrate(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	num, mult := s, 1.0
	switch {
	case strings.HasSuffix(s, "M"), strings.HasSuffix(s, "m"):
		num, mult = s[:len(s)-1], 1e6
	case strings.HasSuffix(s, "k"), strings.HasSuffix(s, "K"):
		num, mult = s[:len(s)-1], 1e3
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("-bitrate %q: want e.g. 2M, 1500k or 2000000", s)
	}
	return int(v * mult), nil
}

func cmdRun(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	url := fs.String("url", "rtsp://127.0.0.1:8554/bench", "stream to publish to and play (rtsp://, loopback unless -allow-remote)")
	playURL := fs.String("play-url", "", "stream the readers play, when not -url (e.g. a stream of the server made from -url)")
	transport := fs.String("transport", "tcp", "readers' RTP transport: tcp (interleaved) or udp")
	readers := fs.Int("readers", 1, fmt.Sprintf("number of readers (1..%d)", loadtest.MaxReaders))
	duration := fs.Duration("duration", 20*time.Second, fmt.Sprintf("measured window (1s..%v)", loadtest.MaxDuration))
	warmup := fs.Duration("warmup", 3*time.Second, "time between all readers playing and the window")
	pid := fs.Int("pid", 0, "server process to sample CPU and RSS of (0: none)")
	fps := fs.Int("fps", 30, "publisher frame rate")
	audio := fs.Bool("audio", false, "also publish a PCMA track (50 packets/s of 160 bytes)")
	allowRemote := fs.Bool("allow-remote", false, "allow a non-loopback URL")
	verbose := fs.Bool("v", false, "debug logging")
	var in inputFlags
	in.register(fs, "1080p", "")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log := newLogger(*verbose)
	input, err := in.load(ctx, log)
	if err != nil {
		return err
	}
	res, err := loadtest.Run(ctx, loadtest.RunConfig{
		URL: *url, PlayURL: *playURL, Transport: *transport, Readers: *readers, Duration: *duration, Warmup: *warmup, PID: *pid,
		Input: input, FPS: *fps, Audio: *audio, AllowRemote: *allowRemote, Logger: log,
	})
	if res != nil {
		fmt.Print(res.Text())
		fmt.Println(res.JSON())
	}
	return err
}

func cmdRelay(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("relay", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8555", "TCP address to listen on (port 0 picks one)")
	queue := fs.Int("queue", 256, "per-reader queue, in frames; a reader whose queue is full is dropped")
	verbose := fs.Bool("v", false, "debug logging")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *queue < 1 || *queue > 65536 {
		return fmt.Errorf("relay: -queue %d: want 1..65536", *queue)
	}
	log := newLogger(*verbose)
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	// compare reads this line to find the port.
	fmt.Printf("listening on %s\n", ln.Addr())
	r := &loadtest.Relay{QueueFrames: *queue, Logger: log}
	err = r.Serve(ctx, ln)
	st := r.Stats()
	log.Info("relay stopped", "frames", st.Frames, "bytes", st.Bytes, "dropped_readers", st.DroppedReaders)
	return err
}

func cmdCompare(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	readers := fs.String("readers", "1,50,200", "comma-separated reader counts")
	duration := fs.Duration("duration", 20*time.Second, "measured window of each run")
	warmup := fs.Duration("warmup", 3*time.Second, "warm-up of each run")
	fps := fs.Int("fps", 30, "publisher frame rate")
	audio := fs.Bool("audio", false, "also publish a PCMA track")
	targetURL := fs.String("target-url", "", "target stream published to (empty: relay only)")
	playURLs := fs.String("play-url", "", "comma-separated streams the target's readers play, each measured in turn (default: -target-url)")
	transports := fs.String("transports", "tcp", "comma-separated transports of the target's readers, each measured in turn: tcp, udp")
	targetPID := fs.Int("target-pid", 0, "running target process")
	targetCmd := fs.String("target-cmd", "", `command starting the target for each reader count, e.g. "rtspgate -c bench.yaml"`)
	targetLog := fs.String("target-log", "", "file receiving the target command's output (default: discarded)")
	relayPath := fs.String("relay-path", "/bench", "path used on the relay")
	noRelay := fs.Bool("no-relay", false, "measure only the target")
	pause := fs.Duration("pause", 2*time.Second, "pause between runs")
	verbose := fs.Bool("v", false, "debug logging")
	var in inputFlags
	in.register(fs, "1080p", "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	counts, err := parseCounts(*readers)
	if err != nil {
		return err
	}
	trs := splitList(*transports)
	for _, tr := range trs {
		if tr != loadtest.TransportTCP && tr != loadtest.TransportUDP {
			return fmt.Errorf("compare: -transports: %q is not tcp or udp", tr)
		}
	}
	if *playURLs != "" && *targetURL == "" {
		return errors.New("compare: -play-url needs -target-url")
	}
	if *targetPID != 0 && *targetCmd != "" {
		return errors.New("compare: -target-pid and -target-cmd are exclusive")
	}
	if *duration > loadtest.MaxDuration || *duration < time.Second {
		return fmt.Errorf("compare: -duration %v: want 1s..%v", *duration, loadtest.MaxDuration)
	}
	log := newLogger(*verbose)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var argv []string
	if *targetCmd != "" {
		if argv, err = splitCommand(*targetCmd); err != nil {
			return err
		}
	}
	var tlog io.Writer
	if *targetLog != "" {
		f, err := os.Create(*targetLog)
		if err != nil {
			return err
		}
		defer f.Close()
		tlog = f
	}
	input, err := in.load(ctx, log)
	if err != nil {
		return err
	}
	rows, err := loadtest.Compare(ctx, loadtest.CompareConfig{
		Readers: counts, Duration: *duration, Warmup: *warmup, Input: input, FPS: *fps, Audio: *audio,
		RelayCommand: []string{self, "relay"}, RelayLog: os.Stderr, RelayPath: *relayPath, SkipRelay: *noRelay,
		TargetURL: *targetURL, TargetPlayURLs: splitList(*playURLs), Transports: trs, TargetPID: *targetPID, TargetCommand: argv, TargetLog: tlog,
		Pause: *pause, Report: os.Stdout, Logger: log,
	})
	if len(rows) > 0 {
		fmt.Print(loadtest.MarkdownTable(rows))
	}
	return err
}

func cmdMakeInput(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("make-input", flag.ContinueOnError)
	var in inputFlags
	in.register(fs, "1080p", "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	path, err := in.path(ctx)
	if err != nil {
		return err
	}
	input, err := loadtest.LoadInput(path)
	if err != nil {
		return err
	}
	fmt.Println(path)
	fmt.Fprintf(os.Stderr, "%d access units, GOP %d frames, %.2f Mbit/s at 30 fps\n", len(input.AUs), input.GOP(),
		float64(input.Bytes)*8*30/float64(len(input.AUs))/1e6)
	return nil
}

func parseCounts(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > loadtest.MaxReaders {
			return nil, fmt.Errorf("-readers: %q is not a count in 1..%d", f, loadtest.MaxReaders)
		}
		out = append(out, n)
	}
	return out, nil
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// splitCommand splits a command line on spaces, honouring single and double
// quotes (no escapes, no shell).
func splitCommand(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, c := range s {
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			} else {
				cur.WriteRune(c)
			}
		case c == '\'' || c == '"':
			quote, inWord = c, true
		case c == ' ' || c == '\t':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(c)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unbalanced quote in %q", s)
	}
	if inWord {
		out = append(out, cur.String())
	}
	if len(out) == 0 {
		return nil, errors.New("empty command")
	}
	return out, nil
}

// parseFlags parses a command's flags, which take no further arguments.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("%s: unexpected arguments %q", fs.Name(), fs.Args())
	}
	return nil
}
