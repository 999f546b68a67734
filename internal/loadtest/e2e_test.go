package loadtest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/auth"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
	"github.com/pion/rtp"

	"github.com/rtspgate/rtspgate/internal/testpeer"
)

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// checkPerfect asserts full delivery, no gaps and measured latency.
func checkPerfect(t *testing.T, res *Result, readers int) {
	t.Helper()
	t.Logf("%s", res.Text())
	switch {
	case res.ReadersConnected != readers || res.ReadersDropped != 0:
		t.Errorf("connected %d of %d, dropped %d (%s)", res.ReadersConnected, readers, res.ReadersDropped, res.FirstError)
	case res.FramesSent < 25:
		t.Errorf("only %d frames sent", res.FramesSent)
	case res.DeliveredMinPct != 100 || res.ReadersFullPct != 100:
		t.Errorf("delivered min %.2f %%, full %.1f %%", res.DeliveredMinPct, res.ReadersFullPct)
	case res.SeqGaps != 0 || res.MalformedPackets != 0:
		t.Errorf("%d sequence gaps, %d malformed packets", res.SeqGaps, res.MalformedPackets)
	case res.LatencySamples < uint64(readers*res.FramesSent) || res.LatencyP50Ms <= 0 || res.LatencyMaxMs <= 0:
		t.Errorf("latency: %d samples, p50 %.3f ms, max %.3f ms", res.LatencySamples, res.LatencyP50Ms, res.LatencyMaxMs)
	}
}

func TestRunAgainstRelay(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	relay := &Relay{Logger: quietLogger()}
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := relay.Serve(ctx, ln); err != nil {
			t.Errorf("relay: %v", err)
		}
	})
	defer func() {
		cancel()
		wg.Wait()
	}()

	res, err := Run(context.Background(), RunConfig{
		URL:      "rtsp://" + ln.Addr().String() + "/bench",
		Readers:  5,
		Duration: 2 * time.Second,
		Warmup:   300 * time.Millisecond,
		Grace:    time.Second,
		PID:      os.Getpid(), // the relay runs in this process
		Input:    syntheticInput(60, 30),
		Audio:    true,
		// Keepalive answers must not land inside a frame.
		KeepAlive: 50 * time.Millisecond,
		Logger:    quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	checkPerfect(t, res, 5)
	if res.ServerCPU <= 0 || res.ServerRSSMiB <= 0 || res.ToolCPU <= 0 {
		t.Errorf("process metrics: cpu %.3f rss %.1f tool %.3f", res.ServerCPU, res.ServerRSSMiB, res.ToolCPU)
	}
	if st := relay.Stats(); st.Frames == 0 || st.DroppedReaders != 0 {
		t.Errorf("relay stats %+v", st)
	}
}

// testServer is a minimal RECORD → PLAY server on gortsplib's stock Server
// and ServerStream: one publisher, any number of readers.
type testServer struct {
	user, pass string
	// udp makes the server offer RTP over UDP too.
	udp bool

	server    *gortsplib.Server
	pathMu    sync.Mutex
	described map[string]int
	mu        sync.RWMutex
	stream    *gortsplib.ServerStream
	publisher *gortsplib.ServerSession
}

func (h *testServer) authorized(conn *gortsplib.ServerConn, req *base.Request) bool {
	return h.user == "" || conn.VerifyCredentials(req, h.user, h.pass)
}

func (h *testServer) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stream != nil && ctx.Session == h.publisher {
		h.stream.Close()
		h.stream, h.publisher = nil, nil
	}
}

func (h *testServer) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if !h.authorized(ctx.Conn, ctx.Request) {
		return &base.Response{StatusCode: base.StatusUnauthorized}, nil, liberrors.ErrServerAuth{}
	}
	h.pathMu.Lock()
	if h.described == nil {
		h.described = make(map[string]int)
	}
	h.described[strings.TrimPrefix(ctx.Path, "/")]++
	h.pathMu.Unlock()
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.stream == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, h.stream, nil
}

// describes returns how many DESCRIBEs asked for path.
func (h *testServer) describes(path string) int {
	h.pathMu.Lock()
	defer h.pathMu.Unlock()
	return h.described[path]
}

func (h *testServer) OnAnnounce(ctx *gortsplib.ServerHandlerOnAnnounceCtx) (*base.Response, error) {
	if !h.authorized(ctx.Conn, ctx.Request) {
		return &base.Response{StatusCode: base.StatusUnauthorized}, liberrors.ErrServerAuth{}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stream != nil {
		return &base.Response{StatusCode: base.StatusServiceUnavailable}, nil
	}
	st := &gortsplib.ServerStream{Server: h.server, Desc: ctx.Description}
	if err := st.Initialize(); err != nil {
		return &base.Response{StatusCode: base.StatusBadRequest}, err
	}
	h.stream, h.publisher = st, ctx.Session
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (h *testServer) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if ctx.Session.State() == gortsplib.ServerSessionStatePreRecord {
		return &base.Response{StatusCode: base.StatusOK}, nil, nil
	}
	if !h.authorized(ctx.Conn, ctx.Request) {
		return &base.Response{StatusCode: base.StatusUnauthorized}, nil, liberrors.ErrServerAuth{}
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.stream == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, h.stream, nil
}

func (h *testServer) OnPlay(*gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (h *testServer) OnRecord(ctx *gortsplib.ServerHandlerOnRecordCtx) (*base.Response, error) {
	h.mu.RLock()
	st := h.stream
	h.mu.RUnlock()
	ctx.Session.OnPacketRTPAny(func(medi *description.Media, _ format.Format, pkt *rtp.Packet) {
		st.WritePacketRTP(medi, pkt) //nolint:errcheck // a full reader queue loses packets, seen as gaps
	})
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func startTestServer(t *testing.T, h *testServer, methods []auth.VerifyMethod) string {
	t.Helper()
	start := func(rtpPort int) (taken bool) {
		h.server = &gortsplib.Server{Handler: h, RTSPAddress: "127.0.0.1:0", AuthMethods: methods}
		if rtpPort != 0 {
			h.server.UDPRTPAddress = fmt.Sprintf("127.0.0.1:%d", rtpPort)
			h.server.UDPRTCPAddress = fmt.Sprintf("127.0.0.1:%d", rtpPort+1)
		}
		err := h.server.Start()
		if err != nil && rtpPort != 0 && strings.Contains(err.Error(), "address already in use") {
			return true
		}
		if err != nil {
			t.Fatal(err)
		}
		return false
	}
	if h.udp {
		testpeer.OnFreeUDPPair(t, start)
	} else {
		start(0)
	}
	t.Cleanup(h.server.Close)
	return h.server.NetListener().Addr().String()
}

// TestRunAgainstGortsplibServer proves that the hand-made readers interoperate
// with a real RTSP server (Session timeout, Transport answers, RTP-Info, RTCP
// sender reports, authentication).
func TestRunAgainstGortsplibServer(t *testing.T) {
	cases := []struct {
		name    string
		user    string
		methods []auth.VerifyMethod
	}{
		{"open", "", nil},
		{"basic auth", "bench", []auth.VerifyMethod{auth.VerifyMethodBasic}},
		{"digest auth", "bench", []auth.VerifyMethod{auth.VerifyMethodDigestMD5}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := &testServer{user: tc.user, pass: "s3cret"}
			addr := startTestServer(t, h, tc.methods)
			creds := ""
			if tc.user != "" {
				creds = tc.user + ":" + h.pass + "@"
			}
			duration := 2 * time.Second
			if tc.user != "" {
				duration = time.Second
			}
			res, err := Run(context.Background(), RunConfig{
				URL:       "rtsp://" + creds + addr + "/bench",
				Readers:   3,
				Duration:  duration,
				Warmup:    200 * time.Millisecond,
				Grace:     time.Second,
				Input:     syntheticInput(60, 30),
				Audio:     true,
				KeepAlive: 50 * time.Millisecond,
				Logger:    quietLogger(),
			})
			if err != nil {
				t.Fatal(err)
			}
			checkPerfect(t, res, 3)
		})
	}
}

func TestReaderRejectedWithoutCredentials(t *testing.T) {
	h := &testServer{user: "bench", pass: "s3cret"}
	addr := startTestServer(t, h, []auth.VerifyMethod{auth.VerifyMethodBasic})
	u, _ := base.ParseURL("rtsp://" + addr + "/bench")
	var gotErr error
	res := runReader(context.Background(), &readerConfig{url: u, win: &window{}, keepalive: time.Minute, handshakeTimeout: 2 * time.Second},
		func(err error) { gotErr = err })
	if res.connected || gotErr == nil || res.err == nil {
		t.Fatalf("connected without credentials: %+v %v", res, gotErr)
	}
}
