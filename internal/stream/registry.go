package stream

import (
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"
)

// Options tune a Registry; zero fields take defaults.
type Options struct {
	Logger *slog.Logger
	// Openers make sources, by URL scheme.
	Openers map[string]Opener
	// Grace is how long sources stay connected after the last reader leaves.
	Grace time.Duration
	// PublisherGrace is how long readers wait for a publisher that left to come back.
	PublisherGrace time.Duration
	// BufferSize bounds, in bytes, the packets a stream holds for its
	// readers (see ring.go): the current group of pictures, so that a new
	// reader starts at the last keyframe, and Lag of the most recent ones.
	BufferSize int
	// Lag is how far behind the stream a reader may fall before it is
	// dropped (when BufferSize allows).
	Lag time.Duration
	// NoGOPCache makes new readers wait for the next keyframe instead of
	// starting at the last one held.
	NoGOPCache bool
	// Frame writes a protocol's framing into each packet's headroom (see
	// FrameFunc); nil leaves Packet.Framed empty.
	Frame      FrameFunc
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// PktSize is the largest marshalled RTP packet of an H.264 or H.265
	// track readers get; bigger ones are cut. 0: packets too big for a UDP
	// datagram (over 1472 bytes) are cut to DefaultPktSize, others pass.
	PktSize int
}

// DefaultBufferSize holds a whole group of pictures of a camera sending a
// keyframe every 4 s at 8 Mbit/s (4 MB), and 2 s more for readers that lag.
const DefaultBufferSize = 8 << 20

func (o *Options) fill() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Grace == 0 {
		o.Grace = 5 * time.Second
	}
	if o.PublisherGrace == 0 {
		o.PublisherGrace = 5 * time.Second
	}
	if o.BufferSize == 0 {
		o.BufferSize = DefaultBufferSize
	}
	if o.Lag == 0 {
		o.Lag = 2 * time.Second
	}
	if o.MinBackoff == 0 {
		o.MinBackoff = time.Second
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = 30 * time.Second
	}
}

// Registry holds the streams by name.
type Registry struct {
	opts    Options
	mu      sync.Mutex
	streams map[string]*Stream
	private map[string]Publisher // private ingest targets, by path
	closed  bool
}

// NewRegistry returns an empty registry.
func NewRegistry(opts Options) *Registry {
	opts.fill()
	return &Registry{opts: opts, streams: map[string]*Stream{}}
}

// Add creates a configured stream with its sources (none: it waits for a
// publisher), opening each with the Opener of its scheme.
func (r *Registry) Add(name string, specs []SourceSpec) (*Stream, error) {
	var srcs []Source
	var names []string
	for _, sp := range specs {
		open, ok := r.opts.Openers[sp.Scheme]
		if !ok {
			return nil, fmt.Errorf("stream %q: source %s: no support for scheme %q", name, sp.Redacted, sp.Scheme)
		}
		src, err := open(sp)
		if err != nil {
			return nil, fmt.Errorf("stream %q: source %s: %w", name, sp.Redacted, err)
		}
		srcs = append(srcs, src)
		names = append(names, sp.Redacted)
	}
	return r.AddOpened(name, srcs, names)
}

// AddOpened creates a configured stream with sources opened already; names
// are how they are shown (credentials masked).
func (r *Registry) AddOpened(name string, srcs []Source, names []string) (*Stream, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.streams[name]; ok {
		return nil, fmt.Errorf("stream %q exists already", name)
	}
	s := newStream(name, &r.opts, srcs, names)
	r.streams[name] = s
	return s, nil
}

// Get returns the stream or nil.
func (r *Registry) Get(name string) *Stream {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.streams[name]
}

// GetOrCreate returns the stream, creating a dynamic one that lives while it
// is published: a name not in the config is created by its publisher.
func (r *Registry) GetOrCreate(name string) *Stream {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.streams[name]; s != nil {
		return s
	}
	if r.closed {
		return nil
	}
	s := newStream(name, &r.opts, nil, nil)
	s.dynamic = true
	s.onEmpty = r.removeIfEmpty
	r.streams[name] = s
	return s
}

func (r *Registry) removeIfEmpty(s *Stream) {
	// r.mu then s.mu: a publisher cannot slip in between the check and the
	// removal, since Publish on a stream marked closed fails
	r.mu.Lock()
	s.mu.Lock()
	empty := s.publisher == nil && !s.isClosed
	if empty {
		s.isClosed = true
		s.isClosedFast.Store(true)
		if r.streams[s.Name] == s {
			delete(r.streams, s.Name)
		}
	}
	s.mu.Unlock()
	r.mu.Unlock()
	if empty {
		s.shutdown()
	}
}

// Streams returns the streams sorted by name.
func (r *Registry) Streams() []*Stream {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*Stream, 0, len(r.streams))
	for _, s := range r.streams {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Close closes every stream and waits for their sources to stop.
func (r *Registry) Close() {
	r.mu.Lock()
	r.closed = true
	all := make([]*Stream, 0, len(r.streams))
	for _, s := range r.streams {
		all = append(all, s)
	}
	r.streams = map[string]*Stream{}
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range all {
		wg.Add(1)
		go func() { defer wg.Done(); s.close() }()
	}
	wg.Wait()
}
