package rtspserver

import (
	"encoding/binary"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/rtspgate/rtspgate/internal/stream"
	"github.com/rtspgate/rtspgate/internal/testpeer"
)

// startTestServer serves one published stream "cam" (H.264 + PCMA) fed by a
// goroutine at about 100 packets/s.
func startTestServer(t *testing.T) (*Server, string) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg := stream.NewRegistry(stream.Options{Logger: log, Frame: Frame})
	st := reg.GetOrCreate("cam")
	pub, err := st.Publish([]stream.TrackSpec{
		{Kind: stream.Video, Format: &format.H264{PayloadTyp: 96, PacketizationMode: 1}},
		{Kind: stream.Audio, Format: &format.G711{PayloadTyp: 8, SampleRate: 8000, ChannelCount: 1}},
	}, "test")
	if err != nil {
		t.Fatal(err)
	}
	srv := New(Config{Listen: "127.0.0.1:0"}, reg, log)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		payload := make([]byte, 1200)
		payload[0] = 0x65
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			pub.WritePacket(pub.Tracks[0], &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: uint16(i), Timestamp: uint32(i * 900), Marker: true}, Payload: payload}, time.Now(), time.Time{})
			pub.WritePacket(pub.Tracks[1], &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 8, SequenceNumber: uint16(i), Timestamp: uint32(i * 80)}, Payload: payload[:160]}, time.Now(), time.Time{})
		}
	}()
	t.Cleanup(func() {
		close(stop)
		<-done
		srv.Close()
		reg.Close()
	})
	return srv, "rtsp://" + srv.Addr().String() + "/cam"
}

// TestKeepalivesDuringPlayNeverSplitFrames: requests answered while media
// flows on non-default interleaved channels must arrive whole, between
// frames; every frame is a valid RTP packet of the channel's track, in order.
func TestKeepalivesDuringPlayNeverSplitFrames(t *testing.T) {
	_, url := startTestServer(t)
	rc := testpeer.DialRaw(t, url)
	rc.Send("DESCRIBE", url, "Accept: application/sdp\r\n")
	if st, _ := rc.Response(); !strings.Contains(st, "200") {
		t.Fatalf("DESCRIBE: %s", st)
	}
	rc.Send("SETUP", url+"/trackID=0", "Transport: RTP/AVP/TCP;unicast;interleaved=6-7\r\n")
	st, h := rc.Response()
	if !strings.Contains(st, "200") || !strings.Contains(h["transport"], "interleaved=6-7") {
		t.Fatalf("SETUP video: %s %v", st, h)
	}
	session, _, _ := strings.Cut(h["session"], ";")
	rc.Send("SETUP", url+"/trackID=1", "Transport: RTP/AVP/TCP;unicast;interleaved=10-11\r\n", "Session: "+session+"\r\n")
	if st, _ := rc.Response(); !strings.Contains(st, "200") {
		t.Fatalf("SETUP audio: %s", st)
	}
	rc.Send("PLAY", url, "Session: "+session+"\r\n")
	if st, _ := rc.Response(); !strings.Contains(st, "200") {
		t.Fatalf("PLAY: %s", st)
	}
	frames := map[int]int{}
	lastSeq := map[int]uint16{}
	answers := 0
	deadline := time.Now().Add(2 * time.Second)
	nextKeepalive := time.Now()
	for time.Now().Before(deadline) {
		if time.Now().After(nextKeepalive) {
			if answers%2 == 0 {
				rc.Send("GET_PARAMETER", url, "Session: "+session+"\r\n")
			} else {
				rc.Send("OPTIONS", url, "Session: "+session+"\r\n")
			}
			nextKeepalive = time.Now().Add(20 * time.Millisecond)
			// read until its answer, checking every frame on the way
			for {
				st, _, ch, payload := rc.Next()
				if ch < 0 {
					if !strings.Contains(st, "200") {
						t.Fatalf("keepalive answered %q", st)
					}
					answers++
					break
				}
				if ch == 7 || ch == 11 {
					pkts, err := rtcp.Unmarshal(payload)
					if err != nil {
						t.Fatalf("RTCP on channel %d: %v", ch, err)
					}
					if _, ok := pkts[0].(*rtcp.SenderReport); !ok {
						t.Fatalf("RTCP on channel %d is %T, want a sender report", ch, pkts[0])
					}
					if frames[ch-1] > 0 {
						t.Fatalf("first sender report on channel %d came after %d RTP packets, want it before them", ch, frames[ch-1])
					}
					frames[ch]++
					continue
				}
				var p rtp.Packet
				if err := p.Unmarshal(payload); err != nil {
					t.Fatalf("frame on channel %d is not RTP: %v", ch, err)
				}
				if ch != 6 && ch != 10 {
					t.Fatalf("frame on channel %d, want 6 (video) or 10 (audio)", ch)
				}
				if want := map[int]uint8{6: 96, 10: 8}[ch]; p.PayloadType != want {
					t.Fatalf("channel %d carries payload type %d, want %d", ch, p.PayloadType, want)
				}
				if frames[ch] > 0 && p.SequenceNumber != lastSeq[ch]+1 {
					t.Fatalf("channel %d: sequence %d after %d", ch, p.SequenceNumber, lastSeq[ch])
				}
				lastSeq[ch] = p.SequenceNumber
				frames[ch]++
			}
		}
	}
	if answers < 20 || frames[6] < 50 || frames[10] < 50 {
		t.Fatalf("got %d answers, %d video and %d audio frames in 2 s", answers, frames[6], frames[10])
	}
	if frames[7] != 1 || frames[11] != 1 {
		t.Fatalf("got %d video and %d audio sender reports in 2 s, want one each at the start", frames[7], frames[11])
	}
}

// TestPauseThenPlayResumes: PAUSE stops media, PLAY brings it back (players
// that pause and resume).
func TestPauseThenPlayResumes(t *testing.T) {
	_, url := startTestServer(t)
	rc := testpeer.DialRaw(t, url)
	c := rc.Conn
	rc.Send("SETUP", url+"/trackID=0", "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n")
	st, h := rc.Response()
	if !strings.Contains(st, "200") {
		t.Fatalf("SETUP: %s", st)
	}
	session, _, _ := strings.Cut(h["session"], ";")
	// count reads packets of channel 0 for d, or until it has enough of
	// them (0: no limit)
	count := func(d time.Duration, enough int) (frames int) {
		end := time.Now().Add(d)
		c.SetReadDeadline(end)
		for enough == 0 || frames < enough {
			b, err := rc.R.Peek(4)
			if err != nil {
				return frames
			}
			n := int(binary.BigEndian.Uint16(b[2:]))
			if _, err := rc.R.Discard(4 + n); err != nil {
				return frames
			}
			if b[1] == 0 {
				frames++
			}
		}
		return frames
	}
	for round := range 2 {
		rc.Send("PLAY", url, "Session: "+session+"\r\n")
		if st, _ := rc.Response(); !strings.Contains(st, "200") {
			t.Fatalf("PLAY %d: %s", round, st)
		}
		// windows, not one timed count: a loaded machine may be slow to
		// start or to drain, but a stream that does not play (or does not
		// pause) fails every window
		if n := count(3*time.Second, 10); n < 10 {
			t.Fatalf("PLAY %d: %d packets in 3 s, want 10 in about 100 ms", round, n)
		}
		rc.Send("PAUSE", url, "Session: "+session+"\r\n")
		if st, _ := rc.Response(); !strings.Contains(st, "200") {
			t.Fatalf("PAUSE %d: %s", round, st)
		}
		var seen []int
		for n := -1; n != 0; {
			if len(seen) == 5 {
				t.Fatalf("PAUSE %d: packets in each of five 300 ms windows after it: %v", round, seen)
			}
			n = count(300*time.Millisecond, 0)
			seen = append(seen, n)
		}
	}
}
