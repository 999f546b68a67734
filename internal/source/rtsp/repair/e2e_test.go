package repair

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/headers"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
	"github.com/pion/rtp"
)

const packets = 5

// fakeCamera serves one RTSP session on ln. Its SETUP answers carry no
// interleaved= although it then sends on the channels asked for.
func fakeCamera(t *testing.T, ln net.Listener) {
	nc, err := ln.Accept()
	if err != nil {
		return
	}
	defer nc.Close()
	br := bufio.NewReader(nc)
	url := "rtsp://" + ln.Addr().String() + "/cam"
	sdp := "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=cam\r\nt=0 0\r\n" +
		"m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n" +
		"a=fmtp:96 packetization-mode=1;sprop-parameter-sets=Z0IAH5WoFAFuQA==,aM48gA==\r\n" +
		"a=control:trackID=1\r\n"
	channel := -1
	for {
		var req base.Request
		if err := req.Unmarshal(br); err != nil {
			return
		}
		cseq := req.Header["CSeq"][0]
		head := "RTSP/1.0 200 OK\r\nCSeq: " + cseq + "\r\n"
		var answer string
		switch req.Method {
		case base.Options:
			answer = head + "Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN\r\n\r\n"
		case base.Describe:
			answer = head + "Content-Type: application/sdp\r\nContent-Base: " + url + "/\r\n" +
				"Content-Length: " + strconv.Itoa(len(sdp)) + "\r\n\r\n" + sdp
		case base.Setup:
			var th headers.Transport
			if err := th.Unmarshal(req.Header["Transport"]); err != nil || th.InterleavedIDs == nil {
				t.Errorf("camera: odd SETUP %v", req.Header["Transport"])
				return
			}
			channel = th.InterleavedIDs[0]
			answer = head + "Session: 6B8B4567;timeout=60\r\nTransport: RTP/AVP/TCP;unicast\r\n\r\n"
		case base.Play:
			answer = head + "Session: 6B8B4567\r\nRange: npt=0.000-\r\n\r\n"
		default:
			answer = head + "\r\n"
		}
		if _, err := nc.Write([]byte(answer)); err != nil {
			return
		}
		if req.Method == base.Play {
			for i := range packets {
				pkt := rtp.Packet{
					Header: rtp.Header{
						Version: 2, Marker: true, PayloadType: 96,
						SequenceNumber: uint16(100 + i), Timestamp: uint32(i * 3000), SSRC: 0x11223344,
					},
					Payload: []byte{0x65, 0x88, 0x84, byte(i)},
				}
				b, _ := pkt.Marshal()
				if _, err := nc.Write(interleaved(byte(channel), b)); err != nil {
					return
				}
			}
		}
	}
}

func TestEndToEnd(t *testing.T) {
	for _, wrap := range []bool{true, false} {
		name := "without repair"
		if wrap {
			name = "with repair"
		}
		t.Run(name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			done := make(chan struct{})
			go func() {
				defer close(done)
				fakeCamera(t, ln)
			}()
			defer func() { <-done }()

			var mu sync.Mutex
			var quirks []Quirk
			tcp := gortsplib.ProtocolTCP
			c := &gortsplib.Client{
				Scheme:      "rtsp",
				Host:        ln.Addr().String(),
				Protocol:    &tcp,
				ReadTimeout: 5 * time.Second,
				DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
					nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
					if err != nil || !wrap {
						return nc, err
					}
					return Wrap(nc, Options{OnQuirk: func(q Quirk) {
						mu.Lock()
						quirks = append(quirks, q)
						mu.Unlock()
					}}), nil
				},
			}
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			defer c.Close()

			u, err := base.ParseURL("rtsp://" + ln.Addr().String() + "/cam")
			if err != nil {
				t.Fatal(err)
			}
			desc, _, err := c.Describe(u)
			if err != nil {
				t.Fatal(err)
			}
			err = c.SetupAll(desc.BaseURL, desc.Medias)
			if !wrap {
				if !errors.As(err, &liberrors.ErrClientTransportHeaderNoInterleavedIDs{}) {
					t.Fatalf("want the client to refuse the SETUP answer, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}

			got := make(chan uint16, packets)
			c.OnPacketRTPAny(func(_ *description.Media, _ format.Format, pkt *rtp.Packet) {
				got <- pkt.SequenceNumber
			})
			if _, err := c.Play(nil); err != nil {
				t.Fatal(err)
			}
			for i := range packets {
				select {
				case seq := <-got:
					if seq != uint16(100+i) {
						t.Errorf("packet %d has sequence number %d", i, seq)
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("got %d packets of %d", i, packets)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if len(quirks) != 1 || quirks[0] != QNoInterleaved {
				t.Errorf("quirks %q", quirks)
			}
		})
	}
}
