package loadtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/pion/rtp"
)

// Bounds of a fake camera.
const (
	MaxCameraPaths = 256
	// MaxCameraRun bounds how long the paths' loops run.
	MaxCameraRun = 2 * time.Hour
)

// Camera is a fake IP camera, or many: an RTSP server (gortsplib's Server
// and ServerStream, TCP interleaved only) serving the paths cam0 … cam{N-1}.
// Every path loops the input on its own real-time timeline from the moment
// Start returns, whether anyone watches or not, as a camera does: each has
// its own start phase and first access unit, frame counter, RTP timestamps
// and sequence numbers, and stamps every access unit with an SEI (counter
// and send time). A client that plays gets the live position, so its first
// keyframe comes when the path's loop reaches one.
type Camera struct {
	// Listen is the TCP address; "127.0.0.1:0" if empty.
	Listen string
	// Paths is the number of paths, 1..MaxCameraPaths.
	Paths int
	// Input is looped by every path.
	Input *Input
	// FPS is the frame rate; 30 if 0.
	FPS int
	// Audio adds a PCMA track to every path (50 packets/s of 160 bytes).
	Audio bool
	// Run bounds the loops; MaxCameraRun if 0.
	Run time.Duration
	// Logger receives session events at debug level; slog.Default() if nil.
	Logger *slog.Logger

	server *gortsplib.Server
	paths  []*cameraPath
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	sessions map[*gortsplib.ServerSession]*cameraPath // sessions that played
	changed  chan struct{}                            // closed and replaced when sessions change
}

// cameraPath is one looped stream.
type cameraPath struct {
	name   string
	stream *gortsplib.ServerStream
	desc   *description.Session
	enc    *rtph264.Encoder

	// playing and played count sessions now and in total; under Camera.mu.
	playing, played int

	mu     sync.Mutex
	frames []sentFrame
}

// Start listens and starts the paths' loops.
func (c *Camera) Start() error {
	if c.Paths < 1 || c.Paths > MaxCameraPaths {
		return fmt.Errorf("camera paths %d: want 1..%d", c.Paths, MaxCameraPaths)
	}
	if c.Input == nil || len(c.Input.AUs) == 0 {
		return errors.New("camera: no input")
	}
	if c.FPS == 0 {
		c.FPS = 30
	}
	if c.FPS < 1 || c.FPS > 240 {
		return fmt.Errorf("camera fps %d: want 1..240", c.FPS)
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:0"
	}
	if c.Run <= 0 || c.Run > MaxCameraRun {
		c.Run = MaxCameraRun
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.sessions = map[*gortsplib.ServerSession]*cameraPath{}
	c.changed = make(chan struct{})
	c.server = &gortsplib.Server{
		Handler:     c,
		RTSPAddress: c.Listen,
		// A 720p keyframe is ~100 packets; the queue holds several.
		WriteQueueSize: 1024,
	}
	if err := c.server.Start(); err != nil {
		return err
	}
	for i := range c.Paths {
		p, err := c.newPath("cam" + strconv.Itoa(i))
		if err != nil {
			c.Close()
			return err
		}
		c.paths = append(c.paths, p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.Run)
	c.cancel = cancel
	for _, p := range c.paths {
		c.wg.Go(func() { c.loop(ctx, p) })
		if c.Audio {
			c.wg.Go(func() { c.audioLoop(ctx, p) })
		}
	}
	return nil
}

func (c *Camera) newPath(name string) (*cameraPath, error) {
	video := &format.H264{PayloadTyp: 96, PacketizationMode: 1, SPS: c.Input.SPS, PPS: c.Input.PPS}
	desc := &description.Session{Medias: []*description.Media{{
		Type: description.MediaTypeVideo, Formats: []format.Format{video},
	}}}
	if c.Audio {
		desc.Medias = append(desc.Medias, &description.Media{
			Type:    description.MediaTypeAudio,
			Formats: []format.Format{&format.G711{PayloadTyp: 8, SampleRate: 8000, ChannelCount: 1}},
		})
	}
	enc, err := video.CreateEncoder()
	if err != nil {
		return nil, err
	}
	st := &gortsplib.ServerStream{Server: c.server, Desc: desc}
	if err := st.Initialize(); err != nil {
		return nil, err
	}
	return &cameraPath{name: name, stream: st, desc: desc, enc: enc}, nil
}

// Close stops the loops and the server.
func (c *Camera) Close() {
	if c.cancel != nil {
		c.cancel()
	}
	c.wg.Wait()
	for _, p := range c.paths {
		p.stream.Close()
	}
	if c.server != nil {
		c.server.Close()
	}
}

// Addr is the address the camera listens on.
func (c *Camera) Addr() string { return c.server.NetListener().Addr().String() }

// URL is the rtsp:// URL of path i.
func (c *Camera) URL(i int) string { return "rtsp://" + c.Addr() + "/" + c.paths[i].name }

// PathName is the name of path i (cam0 …).
func (c *Camera) PathName(i int) string { return c.paths[i].name }

// Playing returns the number of sessions playing path i now and the number
// that ever played it.
func (c *Camera) Playing(i int) (now, total int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.paths[i].playing, c.paths[i].played
}

// WaitPlaying waits until ok holds for the number of sessions playing path
// i, or ctx ends.
func (c *Camera) WaitPlaying(ctx context.Context, i int, ok func(playing int) bool) error {
	for {
		c.mu.Lock()
		n, ch := c.paths[i].playing, c.changed
		c.mu.Unlock()
		if ok(n) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("%s: %d sessions playing: %w", c.paths[i].name, n, ctx.Err())
		}
	}
}

// sent returns the records of the frames path i has sent so far.
func (c *Camera) sent(i int) []sentFrame {
	p := c.paths[i]
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]sentFrame(nil), p.frames...)
}

// loop sends path p's access units in real time from a random phase and a
// random first access unit, so that paths do not share keyframe times.
func (c *Camera) loop(ctx context.Context, p *cameraPath) {
	interval := time.Second / time.Duration(c.FPS)
	start := time.Now().Add(rand.N(interval))
	first := rand.IntN(len(c.Input.AUs))
	tsBase := rand.Uint32()
	timer := time.NewTimer(time.Until(start))
	defer timer.Stop()
	maxFrames := int64(c.Run / interval)
	for n := int64(0); n < maxFrames; n++ {
		due := start.Add(time.Duration(n) * interval)
		if !waitUntil(ctx, timer, due) {
			return
		}
		au := c.Input.AUs[(first+int(n))%len(c.Input.AUs)]
		ts := tsBase + uint32(n*90000/int64(c.FPS))
		if err := c.sendFrame(p, uint64(n), au, ts); err != nil {
			c.Logger.Error("fake camera", "path", p.name, "err", err)
			return
		}
	}
}

func (c *Camera) sendFrame(p *cameraPath, counter uint64, au [][]byte, ts uint32) error {
	now := time.Now()
	pkts, sent, err := stampFrame(p.enc, counter, au, now)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.frames = append(p.frames, sent)
	p.mu.Unlock()
	for _, pkt := range pkts {
		pkt.Timestamp = ts
		// A session whose queue is full loses the packet: its reader sees
		// a gap, as from a real camera.
		p.stream.WritePacketRTPWithNTP(p.desc.Medias[0], pkt, now) //nolint:errcheck
	}
	return nil
}

func (c *Camera) audioLoop(ctx context.Context, p *cameraPath) {
	medi := p.desc.Medias[1]
	pkt := &rtp.Packet{
		Header:  rtp.Header{Version: 2, PayloadType: 8, SequenceNumber: uint16(rand.Uint32()), SSRC: rand.Uint32()},
		Payload: bytes.Repeat([]byte{pcmaSilence}, audioPacketBytes),
	}
	seq0, tsBase := pkt.SequenceNumber, rand.Uint32()
	const interval = time.Second / audioPacketsPerSecond
	start := time.Now()
	t := time.NewTicker(interval)
	defer t.Stop()
	maxPackets := int64(c.Run / interval)
	for n := int64(0); n < maxPackets; n++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// The timestamp follows the wall clock, so that a late tick does
		// not drift audio away from video.
		k := int64(time.Since(start) / interval)
		pkt.SequenceNumber = seq0 + uint16(n)
		pkt.Timestamp = tsBase + uint32(k*audioPacketBytes)
		p.stream.WritePacketRTPWithNTP(medi, pkt, time.Now()) //nolint:errcheck
	}
}

func (c *Camera) path(name string) *cameraPath {
	name = strings.Trim(name, "/")
	for _, p := range c.paths {
		if p.name == name {
			return p
		}
	}
	return nil
}

// OnDescribe implements gortsplib.ServerHandlerOnDescribe.
func (c *Camera) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	p := c.path(ctx.Path)
	if p == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, p.stream, nil
}

// OnSetup implements gortsplib.ServerHandlerOnSetup.
func (c *Camera) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	p := c.path(ctx.Path)
	if p == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	if ctx.Transport.Protocol != gortsplib.ProtocolTCP {
		return &base.Response{StatusCode: base.StatusUnsupportedTransport}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, p.stream, nil
}

// OnPlay implements gortsplib.ServerHandlerOnPlay.
func (c *Camera) OnPlay(ctx *gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	p := c.path(ctx.Path)
	if p == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil
	}
	c.mu.Lock()
	if _, ok := c.sessions[ctx.Session]; !ok {
		c.sessions[ctx.Session] = p
		p.playing++
		p.played++
		c.notifyLocked()
	}
	c.mu.Unlock()
	c.Logger.Debug("fake camera: session plays", "path", p.name, "peer", ctx.Conn.NetConn().RemoteAddr())
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnSessionClose implements gortsplib.ServerHandlerOnSessionClose.
func (c *Camera) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.sessions[ctx.Session]; ok {
		delete(c.sessions, ctx.Session)
		p.playing--
		c.notifyLocked()
		c.Logger.Debug("fake camera: session closed", "path", p.name, "err", ctx.Error)
	}
}

func (c *Camera) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}
