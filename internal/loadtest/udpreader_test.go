package loadtest

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

func TestListenUDPPair(t *testing.T) {
	for range 5 {
		rtp, rtcp, err := listenUDPPair()
		if err != nil {
			t.Fatal(err)
		}
		a, b := rtp.LocalAddr().(*net.UDPAddr), rtcp.LocalAddr().(*net.UDPAddr)
		rtp.Close()
		rtcp.Close()
		if a.Port%2 != 0 || b.Port != a.Port+1 || !a.IP.IsLoopback() {
			t.Fatalf("pair %v %v: want an even loopback port and the next", a, b)
		}
	}
}

func TestCheckUDPTransport(t *testing.T) {
	if err := checkUDPTransport("RTP/AVP;unicast;client_port=5000-5001;server_port=8000-8001;ssrc=1234ABCD"); err != nil {
		t.Fatal(err)
	}
	for _, tr := range []string{"RTP/AVP/TCP;unicast;interleaved=0-1", "RTP/AVP;unicast;interleaved=0-1"} {
		if checkUDPTransport(tr) == nil {
			t.Errorf("%q accepted as UDP", tr)
		}
	}
}

func TestFileLimit(t *testing.T) {
	if err := fileLimitError(200, 2, 20000); err != nil {
		t.Fatal(err)
	}
	err := fileLimitError(2000, 2, 4096)
	if err == nil || !strings.Contains(err.Error(), "ulimit -n") || !strings.Contains(err.Error(), "10064") {
		t.Fatalf("2000 readers under a limit of 4096: %v", err)
	}
}

// TestRunUDPAgainstGortsplibServer reads over UDP from gortsplib's server
// (its own ports, RTCP sender reports on the odd sockets) a stream played
// under another path than the one published to. One reader: gortsplib's
// check that a new UDP reader's ports are not taken reads the other
// sessions' state unlocked, which the race detector reports.
func TestRunUDPAgainstGortsplibServer(t *testing.T) {
	h := &testServer{udp: true}
	addr := startTestServer(t, h, nil)
	res, err := Run(context.Background(), RunConfig{
		URL:       "rtsp://" + addr + "/bench",
		PlayURL:   "rtsp://" + addr + "/other",
		Transport: TransportUDP,
		Readers:   1,
		Duration:  1500 * time.Millisecond,
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
	checkPerfect(t, res, 1)
	if res.Transport != TransportUDP || res.PlayURL != "rtsp://"+addr+"/other" {
		t.Errorf("transport %q, play URL %q", res.Transport, res.PlayURL)
	}
	if n := h.describes("other"); n != 1 {
		t.Errorf("%d DESCRIBEs of the play path, want 1 (bench: %d)", n, h.describes("bench"))
	}
}

// A server without UDP refuses the SETUP: the readers fail, and say why.
func TestRunUDPRefused(t *testing.T) {
	addr := startTestServer(t, &testServer{}, nil)
	res, err := Run(context.Background(), RunConfig{
		URL: "rtsp://" + addr + "/bench", Transport: TransportUDP, Readers: 1,
		Duration: time.Second, Warmup: 0, Grace: 100 * time.Millisecond,
		Input: syntheticInput(60, 30), Logger: quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.ReadersConnected != 0 || !strings.Contains(res.FirstError, "SETUP") {
		t.Fatalf("connected %d, first error %q", res.ReadersConnected, res.FirstError)
	}
}
