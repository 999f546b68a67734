// Package ffmpegsrc is the ffmpeg: stream source. While the stream has
// readers it runs ffmpeg on a file, a URL or another stream of this gateway
// and takes ffmpeg's output back through our own RTSP server: ffmpeg
// publishes over loopback to a private ingest path that only this source
// receives (stream.Registry.Private).
package ffmpegsrc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/rtspgate/rtspgate/internal/ffmpeg"
	"github.com/rtspgate/rtspgate/internal/stream"
)

// Config is what the kind needs from the rest of rtspgate.
type Config struct {
	// Runner starts ffmpeg and holds the templates; nil is the defaults.
	Runner *ffmpeg.Runner
	// Private registers pub as the target of a private ingest path
	// (stream.Registry.Private).
	Private func(pub stream.Publisher) (path string, release func())
	// RTSPAddr is host:port of our RTSP server on loopback, "" without
	// one (then ffmpeg sources cannot run: Run says so).
	RTSPAddr func() string
	// StreamExists reports whether name is a stream of this gateway
	// (INPUT may name one).
	StreamExists func(name string) bool
	// Log receives "ffmpeg started" lines; nil is Runner.Log.
	Log *slog.Logger
}

// Kind opens ffmpeg: sources.
type Kind struct {
	cfg Config
	log *slog.Logger
}

// NewKind returns the ffmpeg source kind.
func NewKind(cfg Config) *Kind {
	if cfg.Runner == nil {
		cfg.Runner = &ffmpeg.Runner{}
	}
	log := cfg.Log
	if log == nil {
		log = cfg.Runner.Log
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Kind{cfg: cfg, log: log}
}

// Source is one configured ffmpeg: source; each Run is one ffmpeg process.
type Source struct {
	k      *Kind
	spec   ffmpeg.Spec
	stream string // the stream it feeds, for logs
}

// checkAddr stands in for our server's address when arguments are only
// checked: Open runs before the server listens.
const checkAddr = "127.0.0.1:8554"

// Open is the stream.Opener of ffmpeg:. It checks the spec whole, so that
// a mistake stops the config at load, and starts nothing.
func (k *Kind) Open(spec stream.SourceSpec) (stream.Source, error) {
	s, err := parseSpec(spec)
	if err != nil {
		return nil, err
	}
	if spec.Stream != "" && s.Scheme() == "" && s.Input == spec.Stream {
		return nil, fmt.Errorf("ffmpeg: stream %q reads itself (ffmpeg:%s); name another stream, a URL, or a file as ./%s", spec.Stream, spec.Stream, spec.Stream)
	}
	src := &Source{k: k, spec: s, stream: spec.Stream}
	// Check with the input as Run will most likely see it: a stream name
	// takes the rtsp template, a file the file template.
	check := s
	if s.Scheme() == "" && s.InputTemplate == "" && streamName(s.Input) && !isFile(s.Input) {
		check.Input = streamURL(checkAddr, s.Input, s)
	}
	if _, err := k.cfg.Runner.SourceArgs(check, "rtsp://"+checkAddr+"/"+stream.PrivatePrefix+"check"); err != nil {
		return nil, err
	}
	return src, nil
}

// parseSpec rebuilds "ffmpeg:INPUT#k=v…" from the spec and parses it, so
// that the rules (and errors) of ffmpeg.Parse apply as they are.
func parseSpec(spec stream.SourceSpec) (ffmpeg.Spec, error) {
	var b strings.Builder
	b.WriteString(spec.URL)
	list := spec.List
	if len(list) == 0 && len(spec.Options) > 0 {
		// A caller that filled only Options: repeats are lost there, and
		// map order is random, so take the keys sorted.
		for _, k := range slices.Sorted(maps.Keys(spec.Options)) {
			list = append(list, stream.Option{Key: k, Value: spec.Options[k]})
		}
	}
	for _, o := range list {
		b.WriteString("#" + o.Key + "=" + o.Value)
	}
	return ffmpeg.Parse(b.String())
}

// Run implements stream.Source: it runs ffmpeg until ctx ends (nil, once
// the process group is gone) or ffmpeg exits (an error with its last
// stderr lines).
func (s *Source) Run(ctx context.Context, pub stream.Publisher) error {
	addr := ""
	if s.k.cfg.RTSPAddr != nil {
		addr = s.k.cfg.RTSPAddr()
	}
	if addr == "" {
		return errors.New("ffmpeg: sources need rtspgate's RTSP server to take ffmpeg's output, and it is off (rtsp.listen is empty)")
	}
	if s.k.cfg.Private == nil {
		return errors.New("ffmpeg: no private ingest paths (Config.Private is nil)")
	}
	path, release := s.k.cfg.Private(pub)
	defer release()
	args, err := s.args(addr, path)
	if err != nil {
		return err
	}
	p, err := s.k.cfg.Runner.Start(ctx, args)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer p.Stop()
	s.k.log.Info("ffmpeg started", "pid", p.PID(), "stream", s.stream, "source", s.spec.Redacted())
	err = p.Wait()
	switch {
	case ctx.Err() != nil:
		return nil
	case err != nil:
		return err
	}
	// Status 0: the input ended (a file played to its end).
	if tail := p.StderrTail(); len(tail) > 0 {
		return fmt.Errorf("ffmpeg: exited at the end of its input: %s", strings.Join(tail, " | "))
	}
	return errors.New("ffmpeg: exited at the end of its input")
}

// args returns ffmpeg's arguments for pushing to our server at addr under
// path.
func (s *Source) args(addr, path string) ([]string, error) {
	spec, err := s.resolve(addr)
	if err != nil {
		return nil, err
	}
	return s.k.cfg.Runner.SourceArgs(spec, "rtsp://"+addr+"/"+path)
}

// resolve returns the spec with a stream name as input turned into our
// loopback URL. A URL stays; an existing file stays (files win over
// streams of the same name, as "./name" would); a raw #input template
// takes its input as written (lavfi graphs, devices).
func (s *Source) resolve(addr string) (ffmpeg.Spec, error) {
	spec := s.spec
	if spec.Scheme() != "" || isFile(spec.Input) {
		return spec, nil
	}
	if streamName(spec.Input) && s.k.cfg.StreamExists != nil && s.k.cfg.StreamExists(spec.Input) {
		spec.Input = streamURL(addr, spec.Input, spec)
		return spec, nil
	}
	if spec.InputTemplate != "" {
		return spec, nil
	}
	// The input is not quoted: without a scheme it may still be a
	// mistyped URL holding a password. The log names the source redacted.
	return spec, errors.New("ffmpeg: the input is neither a URL, an existing file, nor a stream of this gateway")
}

// streamURL is how ffmpeg reads a stream of ours: over loopback, which
// needs no credentials, asking for only the kinds it will use.
func streamURL(addr, name string, spec ffmpeg.Spec) string {
	q := "video&audio"
	switch {
	case len(spec.Video) > 0 && len(spec.Audio) == 0:
		q = "video"
	case len(spec.Audio) > 0 && len(spec.Video) == 0:
		q = "audio"
	}
	return "rtsp://" + addr + "/" + url.PathEscape(name) + "?" + q
}

// streamName reports whether s may be a stream name (the RTSP server's rule).
func streamName(s string) bool {
	if s == "" || s == "." || s == ".." {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

func isFile(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
