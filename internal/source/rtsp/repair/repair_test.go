package repair

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/headers"
	"github.com/bluenviron/gortsplib/v5/pkg/sdpunmarshaler"
)

// quirkCase is one faulty camera answer: gortsplib must refuse it as sent
// and accept it once repaired.
type quirkCase struct {
	name   string
	req    testReq
	answer string
	quirks []Quirk
	want   string                                 // the exact repaired answer, when set
	check  func(t *testing.T, res *base.Response) // checks on gortsplib's reading of it
}

func runCases(t *testing.T, cases []quirkCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := verdict(c.req, []byte(c.answer)); err == nil {
				t.Fatalf("gortsplib accepts the answer as sent: no repair needed")
			}
			r := runWrap(t, [][]byte{c.req.bytes()}, []byte(c.answer), nil, 4096)
			if err := verdict(c.req, r.out); err != nil {
				t.Fatalf("gortsplib refuses the repaired answer: %v\n%s", err, r.out)
			}
			if !sameQuirks(r.quirks, c.quirks) {
				t.Errorf("quirks %q, want %q", r.quirks, c.quirks)
			}
			if c.want != "" && string(r.out) != c.want {
				t.Errorf("repaired\n%q\nwant\n%q", r.out, c.want)
			}
			if len(r.responses) != 1 {
				t.Fatalf("OnResponse called %d times", len(r.responses))
			}
			if c.check != nil {
				c.check(t, readResponse(t, r.out))
			}
		})
	}
}

func sameQuirks(a, b []Quirk) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func TestMessageSyntax(t *testing.T) {
	runCases(t, messageCases)
}

var messageCases = []quirkCase{
	{
		name:   "LF line endings",
		req:    optionsReq,
		answer: "RTSP/1.0 200 OK\nCSeq: 1\nPublic: OPTIONS, DESCRIBE, SETUP, PLAY\n\n",
		quirks: []Quirk{QLineEnding},
		want:   "RTSP/1.0 200 OK\r\nCSeq: 1\r\nPublic: OPTIONS, DESCRIBE, SETUP, PLAY\r\n\r\n",
	},
	{
		name:   "LF ending the head only",
		req:    optionsReq,
		answer: "RTSP/1.0 200 OK\r\nCSeq: 1\r\n\n",
		quirks: []Quirk{QLineEnding},
		want:   "RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\n",
	},
	{
		name:   "stray CR inside a line",
		req:    optionsReq,
		answer: "RTSP/1.0 200 OK\r\nCSeq: 1\r\nPublic: OPTIONS,\r DESCRIBE\r\n\r\n",
		quirks: []Quirk{QLineEnding},
		want:   "RTSP/1.0 200 OK\r\nCSeq: 1\r\nPublic: OPTIONS, DESCRIBE\r\n\r\n",
	},
	{
		name:   "RTSP/1.1",
		req:    optionsReq,
		answer: "RTSP/1.1 200 OK\r\nCSeq: 1\r\n\r\n",
		quirks: []Quirk{QStatusLine},
		want:   "RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\n",
	},
	{
		name:   "two spaces before the code",
		req:    optionsReq,
		answer: "RTSP/1.0  200 OK\r\nCSeq: 1\r\n\r\n",
		quirks: []Quirk{QStatusLine},
		want:   "RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\n",
	},
	{
		name:   "tab after the code",
		req:    optionsReq,
		answer: "RTSP/1.0 200\tOK\r\nCSeq: 1\r\n\r\n",
		quirks: []Quirk{QStatusLine},
		want:   "RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\n",
	},
	{
		name:   "reason glued to the code",
		req:    optionsReq,
		answer: "RTSP/1.0 200OK\r\nCSeq: 1\r\n\r\n",
		quirks: []Quirk{QStatusLine},
		want:   "RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\n",
	},
	{
		name:   "folded WWW-Authenticate",
		req:    optionsReq,
		answer: "RTSP/1.0 401 Unauthorized\r\nCSeq: 1\r\nWWW-Authenticate: Digest realm=\"cam\",\r\n\tnonce=\"abc\"\r\n\r\n",
		quirks: []Quirk{QFoldedHeader},
		want:   "RTSP/1.0 401 Unauthorized\r\nCSeq: 1\r\nWWW-Authenticate: Digest realm=\"cam\", nonce=\"abc\"\r\n\r\n",
	},
	{
		name:   "line without colon before Transport",
		req:    setupTCPReq,
		answer: "RTSP/1.0 200 OK\r\nCSeq: 3\r\nSession: 1234\r\nPowered by camera\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n",
		quirks: []Quirk{QHeaderNoColon},
		want:   "RTSP/1.0 200 OK\r\nCSeq: 3\r\nSession: 1234\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n",
	},
	{
		name:   "space before colon of Content-Length",
		req:    describeReq,
		answer: strings.Replace(describeAnswer(goodSDP), "Content-Length:", "Content-Length :", 1),
		quirks: []Quirk{QHeaderSpacing},
		want:   describeAnswer(goodSDP),
	},
}

func TestHeaders(t *testing.T) {
	runCases(t, headerCases)
}

var headerCases = []quirkCase{
	{
		name:   "CSeq 0 for every answer",
		req:    optionsReq,
		answer: "RTSP/1.0 200 OK\r\nCSeq: 0\r\n\r\n",
		quirks: []Quirk{QCSeq},
		want:   "RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\n",
	},
	{
		name:   "CSeq with junk",
		req:    optionsReq,
		answer: "RTSP/1.0 200 OK\r\nCSeq: 1, OPTIONS\r\n\r\n",
		quirks: []Quirk{QCSeq},
		want:   "RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\n",
	},
	{
		name:   "Content-Length with trailing space",
		req:    describeReq,
		answer: strings.Replace(describeAnswer(goodSDP), "\r\n\r\n", " \r\n\r\n", 1),
		quirks: []Quirk{QContentLength},
		want:   describeAnswer(goodSDP),
	},
	{
		name:   "Content-Length after a tab",
		req:    describeReq,
		answer: strings.Replace(describeAnswer(goodSDP), "Content-Length: ", "Content-Length:\t", 1),
		quirks: []Quirk{QContentLength},
		want:   describeAnswer(goodSDP),
	},
	{
		name: "Content-Length twice",
		req:  describeReq,
		answer: strings.Replace(describeAnswer(goodSDP), "Content-Type:",
			"Content-Length: 1\r\nContent-Type:", 1),
		quirks: []Quirk{QContentLength},
		want: "RTSP/1.0 200 OK\r\nCSeq: 2\r\nContent-Length: " + strconv.Itoa(len(goodSDP)) +
			"\r\nContent-Type: application/sdp\r\n\r\n" + goodSDP,
	},
	{
		name:   "Session timeout with trailing space",
		req:    optionsReq,
		answer: "RTSP/1.0 200 OK\r\nCSeq: 1\r\nSession: 12345678;timeout=60 \r\n\r\n",
		quirks: []Quirk{QSession},
		want:   "RTSP/1.0 200 OK\r\nCSeq: 1\r\nSession: 12345678;timeout=60\r\n\r\n",
	},
	{
		name:   "Session timeout not a number",
		req:    optionsReq,
		answer: "RTSP/1.0 200 OK\r\nCSeq: 1\r\nSession: 12345678;timeout=\r\n\r\n",
		quirks: []Quirk{QSession},
		want:   "RTSP/1.0 200 OK\r\nCSeq: 1\r\nSession: 12345678\r\n\r\n",
	},
	{
		name:   "Session twice",
		req:    optionsReq,
		answer: "RTSP/1.0 200 OK\r\nCSeq: 1\r\nSession: 1234\r\nSession: 1234;timeout=30\r\n\r\n",
		quirks: []Quirk{QSession},
		want:   "RTSP/1.0 200 OK\r\nCSeq: 1\r\nSession: 1234;timeout=30\r\n\r\n",
	},
	{
		name:   "lower-case digest",
		req:    optionsReq,
		answer: "RTSP/1.0 401 Unauthorized\r\nCSeq: 1\r\nWWW-Authenticate: digest realm=\"cam\", nonce=\"abc\"\r\n\r\n",
		quirks: []Quirk{QWWWAuth},
		want:   "RTSP/1.0 401 Unauthorized\r\nCSeq: 1\r\nWWW-Authenticate: Digest realm=\"cam\", nonce=\"abc\"\r\n\r\n",
	},
	{
		name:   "tab between digest parameters",
		req:    optionsReq,
		answer: "RTSP/1.0 401 Unauthorized\r\nCSeq: 1\r\nWWW-Authenticate: Digest realm=\"cam\",\tnonce=\"abc\"\r\n\r\n",
		quirks: []Quirk{QWWWAuth},
		want:   "RTSP/1.0 401 Unauthorized\r\nCSeq: 1\r\nWWW-Authenticate: Digest realm=\"cam\", nonce=\"abc\"\r\n\r\n",
	},
	{
		name:   "Basic without realm",
		req:    optionsReq,
		answer: "RTSP/1.0 401 Unauthorized\r\nCSeq: 1\r\nWWW-Authenticate: Basic charset=\"UTF-8\"\r\n\r\n",
		quirks: []Quirk{QWWWAuth},
		want:   "RTSP/1.0 401 Unauthorized\r\nCSeq: 1\r\nWWW-Authenticate: Basic charset=\"UTF-8\", realm=\"\"\r\n\r\n",
	},
	{
		name:   "DESCRIBE without Content-Type",
		req:    describeReq,
		answer: strings.Replace(describeAnswer(goodSDP), "Content-Type: application/sdp\r\n", "", 1),
		quirks: []Quirk{QContentType},
		check:  wantHeader("Content-Type", "application/sdp"),
	},
	{
		name:   "DESCRIBE with upper-case Content-Type",
		req:    describeReq,
		answer: strings.Replace(describeAnswer(goodSDP), "application/sdp", "Application/SDP", 1),
		quirks: []Quirk{QContentType},
		want:   describeAnswer(goodSDP),
	},
	{
		name:   "DESCRIBE with text/plain",
		req:    describeReq,
		answer: strings.Replace(describeAnswer(goodSDP), "application/sdp", "text/plain", 1),
		quirks: []Quirk{QContentType},
		want:   describeAnswer(goodSDP),
	},
	{
		name:   "Content-Base with IPv6 host without brackets",
		req:    describeReq,
		answer: describeAnswer(goodSDP, "Content-Base: rtsp://::ffff:10.1.2.3/onvif/media1/\r\n"),
		quirks: []Quirk{QContentBase},
		check:  wantHeader("Content-Base", "rtsp://[::ffff:10.1.2.3]/onvif/media1/"),
	},
	{
		name:   "Content-Base without scheme",
		req:    describeReq,
		answer: describeAnswer(goodSDP, "Content-Base: 10.20.30.40:1935/live/\r\n"),
		quirks: []Quirk{QContentBase},
		check:  wantHeader("Content-Base", "rtsp://10.20.30.40:1935/live/"),
	},
	{
		name:   "relative Content-Base",
		req:    describeReq,
		answer: describeAnswer(goodSDP, "Content-Base: live/ch1/\r\n"),
		quirks: []Quirk{QContentBase},
		check:  wantHeader("Content-Base", "rtsp://127.0.0.1:8554/live/ch1/"),
	},
	{
		name:   "Content-Base twice",
		req:    describeReq,
		answer: describeAnswer(goodSDP, "Content-Base: rtsp://127.0.0.1:8554/cam/\r\nContent-Base: rtsp://10.0.0.1/cam/\r\n"),
		quirks: []Quirk{QContentBase},
		check:  wantHeader("Content-Base", "rtsp://127.0.0.1:8554/cam/"),
	},
	{
		name:   "Content-Base of another scheme",
		req:    describeReq,
		answer: describeAnswer(goodSDP, "Content-Base: http://192.168.1.10/cam/\r\n"),
		quirks: []Quirk{QContentBase},
		want:   describeAnswer(goodSDP),
	},
	{
		name:   "Location without scheme",
		req:    describeReq,
		answer: "RTSP/1.0 302 Found\r\nCSeq: 2\r\nLocation: 192.168.1.20:554/stream1\r\n\r\n",
		quirks: []Quirk{QLocation},
		want:   "RTSP/1.0 302 Found\r\nCSeq: 2\r\nLocation: rtsp://192.168.1.20:554/stream1\r\n\r\n",
	},
}

func wantHeader(key, v string) func(*testing.T, *base.Response) {
	return func(t *testing.T, res *base.Response) {
		t.Helper()
		if got := res.Header[key]; len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want %q", key, got, v)
		}
	}
}

func TestSetup(t *testing.T) {
	runCases(t, setupCases)
}

func wantInterleaved(lo, hi int) func(*testing.T, *base.Response) {
	return func(t *testing.T, res *base.Response) {
		t.Helper()
		th := transportOf(t, res)
		if th.InterleavedIDs == nil || *th.InterleavedIDs != [2]int{lo, hi} {
			t.Errorf("interleaved = %v, want %d-%d", th.InterleavedIDs, lo, hi)
		}
	}
}

var setupCases = []quirkCase{
	{
		name:   "TCP without interleaved",
		req:    setupTCPReq,
		answer: setupAnswer("RTP/AVP/TCP;unicast"),
		quirks: []Quirk{QNoInterleaved},
		want:   setupAnswer("RTP/AVP/TCP;unicast;interleaved=0-1"),
	},
	{
		name:   "TCP without interleaved, other channels asked",
		req:    testReq{method: base.Setup, url: camURL + "/trackID=2", cseq: 3, transport: "RTP/AVP/TCP;unicast;interleaved=2-3"},
		answer: setupAnswer("RTP/AVP/TCP;unicast;ssrc=1A2B3C4D"),
		quirks: []Quirk{QNoInterleaved},
		check: func(t *testing.T, res *base.Response) {
			wantInterleaved(2, 3)(t, res)
			if th := transportOf(t, res); th.SSRC == nil || *th.SSRC != 0x1A2B3C4D {
				t.Errorf("ssrc %v", th.SSRC)
			}
		},
	},
	{
		name:   "TCP without interleaved, decimal ssrc",
		req:    setupTCPReq,
		answer: setupAnswer("RTP/AVP/TCP;unicast;ssrc=3735928559"),
		quirks: []Quirk{QNoInterleaved},
		want:   setupAnswer("RTP/AVP/TCP;unicast;ssrc=DEADBEEF;interleaved=0-1"),
	},
	{
		name:   "interleaved with one channel twice",
		req:    setupTCPReq,
		answer: setupAnswer("RTP/AVP/TCP;unicast;interleaved=0-0"),
		quirks: []Quirk{QBadInterleaved},
		want:   setupAnswer("RTP/AVP/TCP;unicast;interleaved=0-1"),
	},
	{
		name:   "interleaved not a number",
		req:    setupTCPReq,
		answer: setupAnswer("RTP/AVP/TCP;unicast;interleaved=;ssrc=7CB694B4"),
		quirks: []Quirk{QBadInterleaved},
		want:   setupAnswer("RTP/AVP/TCP;unicast;interleaved=0-1;ssrc=7CB694B4"),
	},
	{
		name:   "UDP profile with interleaved",
		req:    setupTCPReq,
		answer: setupAnswer("RTP/AVP;unicast;destination=10.0.0.5;source=10.0.0.9;interleaved=0-1"),
		quirks: []Quirk{QTCPProfile},
		want:   setupAnswer("RTP/AVP/TCP;unicast;destination=10.0.0.5;source=10.0.0.9;interleaved=0-1"),
	},
	{
		name:   "UDP ports echoed with junk",
		req:    setupUDPReq,
		answer: setupAnswer("RTP/AVP;unicast;client_port=52794-52795,ssrc=FFFFCCCC;server_port=34382-34383"),
		quirks: []Quirk{QPorts},
		want:   setupAnswer("RTP/AVP;unicast;client_port=52794-52795;ssrc=FFFFCCCC;server_port=34382-34383"),
		check: func(t *testing.T, res *base.Response) {
			th := transportOf(t, res)
			if th.ServerPorts == nil || *th.ServerPorts != [2]int{34382, 34383} {
				t.Errorf("server ports %v", th.ServerPorts)
			}
			if th.ClientPorts == nil || *th.ClientPorts != [2]int{52794, 52795} {
				t.Errorf("client ports %v", th.ClientPorts)
			}
			if th.SSRC == nil || *th.SSRC != 0xFFFFCCCC {
				t.Errorf("ssrc %v", th.SSRC)
			}
		},
	},
	{
		name:   "UDP server_port with junk",
		req:    setupUDPReq,
		answer: setupAnswer("RTP/AVP/UDP;unicast;client_port=52794-52795;server_port=6970-6971/udp"),
		quirks: []Quirk{QPorts},
		want:   setupAnswer("RTP/AVP/UDP;unicast;client_port=52794-52795;server_port=6970-6971"),
	},
	{
		name:   "lower-case profile",
		req:    setupTCPReq,
		answer: setupAnswer("rtp/avp/tcp;unicast;interleaved=0-1"),
		quirks: []Quirk{QTransportSyntax},
		want:   setupAnswer("RTP/AVP/TCP;unicast;interleaved=0-1"),
	},
	{
		name:   "space before semicolon",
		req:    setupTCPReq,
		answer: setupAnswer("RTP/AVP/TCP ;unicast;interleaved=0-1"),
		quirks: []Quirk{QTransportSyntax},
		want:   setupAnswer("RTP/AVP/TCP;unicast;interleaved=0-1"),
	},
	{
		name:   "trailing space",
		req:    setupTCPReq,
		answer: setupAnswer("RTP/AVP/TCP;unicast;interleaved=0-1 "),
		quirks: []Quirk{QTransportSyntax},
		want:   setupAnswer("RTP/AVP/TCP;unicast;interleaved=0-1"),
	},
	{
		name:   "tab and capital parameter name",
		req:    setupTCPReq,
		answer: setupAnswer("RTP/AVP/TCP;\tInterleaved=2-3"),
		quirks: []Quirk{QTransportSyntax},
		check:  wantInterleaved(2, 3),
	},
	{
		name:   "space after equals",
		req:    setupTCPReq,
		answer: setupAnswer("RTP/AVP/TCP;unicast;interleaved= 0-1"),
		quirks: []Quirk{QTransportSyntax},
		want:   setupAnswer("RTP/AVP/TCP;unicast;interleaved=0-1"),
	},
	{
		name:   "mode with two values",
		req:    setupTCPReq,
		answer: setupAnswer("RTP/AVP/TCP;unicast;interleaved=0-1;mode=\"PLAY,RECORD\""),
		quirks: []Quirk{QTransportSyntax},
		want:   setupAnswer("RTP/AVP/TCP;unicast;interleaved=0-1"),
	},
	{
		name:   "unclosed quote",
		req:    setupTCPReq,
		answer: setupAnswer("RTP/AVP/TCP;unicast;interleaved=0-1;mode=\"PLAY"),
		quirks: []Quirk{QTransportSyntax},
		want:   setupAnswer("RTP/AVP/TCP;unicast;interleaved=0-1;mode=PLAY"),
	},
	{
		name:   "ttl not a number",
		req:    setupTCPReq,
		answer: setupAnswer("RTP/AVP/TCP;unicast;interleaved=0-1;ttl=none"),
		quirks: []Quirk{QTransportSyntax},
		want:   setupAnswer("RTP/AVP/TCP;unicast;interleaved=0-1"),
	},
	{
		name:   "profile missing",
		req:    setupTCPReq,
		answer: setupAnswer("unicast;interleaved=0-1"),
		quirks: []Quirk{QTransportSyntax},
		want:   setupAnswer("RTP/AVP/TCP;unicast;interleaved=0-1"),
	},
	{
		name:   "list of transports",
		req:    setupTCPReq,
		answer: setupAnswer("RTP/AVP;unicast;client_port=3000-3001,RTP/AVP/TCP;unicast;interleaved=0-1"),
		quirks: []Quirk{QTransportMulti},
		want:   setupAnswer("RTP/AVP/TCP;unicast;interleaved=0-1"),
	},
	{
		name: "Transport twice",
		req:  setupTCPReq,
		answer: "RTSP/1.0 200 OK\r\nCSeq: 3\r\nSession: 1234\r\n" +
			"Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n",
		quirks: []Quirk{QTransportMulti},
		want:   "RTSP/1.0 200 OK\r\nCSeq: 3\r\nSession: 1234\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n",
	},
}

// goodSDP is what gortsplib takes as it is; the SDP cases break it.
const goodSDP = "v=0\r\n" +
	"o=- 1234 1 IN IP4 192.168.1.10\r\n" +
	"s=Media Presentation\r\n" +
	"t=0 0\r\n" +
	"a=control:*\r\n" +
	"m=video 0 RTP/AVP 96\r\n" +
	"a=rtpmap:96 H264/90000\r\n" +
	"a=fmtp:96 packetization-mode=1;profile-level-id=42001F;sprop-parameter-sets=Z0IAH5WoFAFuQA==,aM48gA==\r\n" +
	"a=control:trackID=1\r\n" +
	"m=audio 0 RTP/AVP 8\r\n" +
	"a=rtpmap:8 PCMA/8000\r\n" +
	"a=control:trackID=2\r\n"

func TestSDP(t *testing.T) {
	var cases []quirkCase
	for _, c := range sdpCases {
		cases = append(cases, quirkCase{
			name:   c.name,
			req:    describeReq,
			answer: describeAnswer(c.sdp, "Content-Base: rtsp://127.0.0.1:8554/cam/\r\n"),
			quirks: c.quirks,
			check: func(t *testing.T, res *base.Response) {
				if c.want != "" && string(res.Body) != c.want {
					t.Errorf("SDP\n%q\nwant\n%q", res.Body, c.want)
				}
				if c.check != nil {
					c.check(t, describe(t, res.Body))
				}
			},
		})
	}
	runCases(t, cases)
}

type sdpCase struct {
	name   string
	sdp    string
	quirks []Quirk
	want   string // the exact repaired SDP, when set
	check  func(t *testing.T, d *description.Session)
}

func describe(t *testing.T, b []byte) *description.Session {
	t.Helper()
	sd, err := sdpunmarshaler.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	var d description.Session
	if err := d.Unmarshal2(sd); err != nil {
		t.Fatal(err)
	}
	return &d
}

func h265SDP(pps string) string {
	return "v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H265/90000\r\n" +
		"a=fmtp:96 sprop-vps=QAEMAf//AWAAAAMAkAAAAwAAAwB4mZgJ;sprop-sps=QgEBAWAAAAMAkAAAAwAAAwB4oAPAgBDlja5JMvTcBAQEAg==;sprop-pps=" + pps + "\r\n" +
		"a=control:trackID=1\r\n"
}

func sdpWith(old, repl string) string {
	if !strings.Contains(goodSDP, old) {
		panic(old)
	}
	return strings.Replace(goodSDP, old, repl, 1)
}

func wantMedias(types ...description.MediaType) func(*testing.T, *description.Session) {
	return func(t *testing.T, d *description.Session) {
		t.Helper()
		var got []description.MediaType
		for _, m := range d.Medias {
			got = append(got, m.Type)
		}
		if !slices.Equal(got, types) {
			t.Errorf("medias %v, want %v", got, types)
		}
	}
}

func wantH264Params(t *testing.T, d *description.Session) {
	t.Helper()
	var h *format.H264
	if d.FindFormat(&h) == nil {
		t.Fatal("no H.264")
	}
	if len(h.SPS) == 0 || len(h.PPS) == 0 {
		t.Errorf("SPS %x PPS %x", h.SPS, h.PPS)
	}
}

var sdpCases = []sdpCase{
	{
		name:   "CR line endings",
		sdp:    strings.ReplaceAll(goodSDP, "\r\n", "\r"),
		quirks: []Quirk{QSDPBareCR},
		want:   goodSDP,
	},
	{
		name:   "byte-order mark",
		sdp:    "\ufeff" + goodSDP,
		quirks: []Quirk{QSDPBOM},
		want:   goodSDP,
	},
	{
		name:   "NUL terminator",
		sdp:    goodSDP + "\x00",
		quirks: []Quirk{QSDPNul},
		want:   goodSDP,
	},
	{
		name:   "indented line",
		sdp:    sdpWith("a=control:trackID=1", "  a=control:trackID=1"),
		quirks: []Quirk{QSDPLeadingSpace},
		want:   goodSDP,
	},
	{
		name:   "v=0 with trailing space",
		sdp:    sdpWith("v=0", "v=0 "),
		quirks: []Quirk{QSDPTrailingSpace},
		want:   goodSDP,
	},
	{
		name:   "b= with trailing space",
		sdp:    sdpWith("a=rtpmap:96", "b=AS:5000 \r\na=rtpmap:96"),
		quirks: []Quirk{QSDPTrailingSpace},
		want:   sdpWith("a=rtpmap:96", "b=AS:5000\r\na=rtpmap:96"),
	},
	{
		name:   "blank line with spaces",
		sdp:    sdpWith("t=0 0\r\n", "t=0 0\r\n   \r\n"),
		quirks: []Quirk{QSDPJunkLine},
		want:   goodSDP,
	},
	{
		name:   "line that is not key=value",
		sdp:    sdpWith("t=0 0\r\n", "t=0 0\r\nBroadcast by camera\r\n"),
		quirks: []Quirk{QSDPJunkLine},
		want:   goodSDP,
	},
	{
		name:   "v=1",
		sdp:    sdpWith("v=0", "v=1"),
		quirks: []Quirk{QSDPVersion},
		want:   goodSDP,
	},
	{
		name:   "v= twice",
		sdp:    sdpWith("t=0 0\r\n", "t=0 0\r\nv=0\r\n"),
		quirks: []Quirk{QSDPVersion},
		want:   goodSDP,
	},
	{
		name:   "s= and i= repeated in a media",
		sdp:    sdpWith("a=control:trackID=1", "s=Camera\r\ni=main stream\r\na=control:trackID=1"),
		quirks: []Quirk{QSDPMisplaced},
		want:   sdpWith("a=control:trackID=1", "i=main stream\r\na=control:trackID=1"),
	},
	{
		name:   "t= in a media",
		sdp:    sdpWith("a=control:trackID=2", "t=0 0\r\na=control:trackID=2"),
		quirks: []Quirk{QSDPMisplaced},
		want:   goodSDP,
	},
	{
		name:   "r= without t=",
		sdp:    sdpWith("s=Media Presentation\r\n", "s=Media Presentation\r\nr=7d 1h 0 25h\r\n"),
		quirks: []Quirk{QSDPMisplaced},
		want:   goodSDP,
	},
	{
		name:   "unknown key in the session",
		sdp:    sdpWith("t=0 0\r\n", "t=0 0\r\nx=vendor\r\n"),
		quirks: []Quirk{QSDPUnknownKey},
		want:   goodSDP,
	},
	{
		name:   "unknown key in a media",
		sdp:    sdpWith("a=control:trackID=2", "y=1\r\na=control:trackID=2"),
		quirks: []Quirk{QSDPUnknownKey},
		want:   goodSDP,
	},
	{
		name:   "o= without IN IP4",
		sdp:    sdpWith("o=- 1234 1 IN IP4 192.168.1.10", "o=camera"),
		quirks: []Quirk{QSDPOrigin},
		want:   sdpWith("o=- 1234 1 IN IP4 192.168.1.10\r\n", ""),
	},
	{
		name:   "c= with an unknown network type",
		sdp:    sdpWith("a=rtpmap:8", "c=XX IP4 0.0.0.0\r\na=rtpmap:8"),
		quirks: []Quirk{QSDPConnection},
		want:   goodSDP,
	},
	{
		name:   "b= without colon",
		sdp:    sdpWith("t=0 0", "b=AS 5000\r\nt=0 0"),
		quirks: []Quirk{QSDPBandwidth},
		want:   goodSDP,
	},
	{
		name:   "t= with one number",
		sdp:    sdpWith("t=0 0", "t=0"),
		quirks: []Quirk{QSDPTiming},
		want:   sdpWith("t=0 0\r\n", ""),
	},
	{
		name:   "r= with one number",
		sdp:    sdpWith("t=0 0\r\n", "t=0 0\r\nr=604800\r\n"),
		quirks: []Quirk{QSDPRepeat},
		want:   goodSDP,
	},
	{
		name:   "z= with an odd count",
		sdp:    sdpWith("t=0 0\r\n", "t=0 0\r\nz=2882844526\r\n"),
		quirks: []Quirk{QSDPTimeZone},
		want:   goodSDP,
	},
	{
		name:   "u= that is not a URL",
		sdp:    sdpWith("t=0 0\r\n", "u=http://camera vendor/\r\nt=0 0\r\n"),
		quirks: []Quirk{QSDPURI},
		want:   goodSDP,
	},
	{
		name:   "capital media type",
		sdp:    sdpWith("m=video", "m=Video"),
		quirks: []Quirk{QSDPMediaLine},
		want:   goodSDP,
	},
	{
		name:   "lower-case protocol",
		sdp:    sdpWith("m=audio 0 RTP/AVP 8", "m=audio 0 rtp/avp 8"),
		quirks: []Quirk{QSDPMediaLine},
		want:   goodSDP,
	},
	{
		name:   "port not a number",
		sdp:    sdpWith("m=audio 0 RTP/AVP 8", "m=audio none RTP/AVP 8"),
		quirks: []Quirk{QSDPMediaLine},
		want:   goodSDP,
	},
	{
		name:   "media of an unknown type",
		sdp:    goodSDP + "m=vana 0 RTP/AVP 110\r\na=rtpmap:110 analytics/90000\r\na=control:trackID=9\r\n",
		quirks: []Quirk{QSDPMediaDropped},
		want:   goodSDP,
	},
	{
		name:   "media without formats",
		sdp:    goodSDP + "m=audio 0 RTP/AVP\r\na=control:trackID=3\r\n",
		quirks: []Quirk{QSDPMediaDropped},
		want:   goodSDP,
	},
	{
		name:   "dynamic format without rtpmap",
		sdp:    sdpWith("m=audio 0 RTP/AVP 8", "m=audio 0 RTP/AVP 8 101"),
		quirks: []Quirk{QSDPFormatDropped},
		want:   goodSDP,
	},
	{
		name: "media whose only format has no rtpmap",
		sdp:  goodSDP + "m=audio 0 RTP/AVP 97\r\na=control:trackID=3\r\n",
		quirks: []Quirk{
			QSDPFormatDropped, QSDPMediaDropped,
		},
		want:  goodSDP,
		check: wantMedias(description.MediaTypeVideo, description.MediaTypeAudio),
	},
	{
		name:   "rtpmap for another payload type",
		sdp:    sdpWith("a=rtpmap:96 H264/90000\r\na=fmtp:96", "a=rtpmap:97 H264/90000\r\na=fmtp:97"),
		quirks: []Quirk{QSDPRtpmapPT},
		check:  wantH264Params,
	},
	{
		name:   "H.264 parameter sets without padding",
		sdp:    sdpWith("Z0IAH5WoFAFuQA==,aM48gA==", "Z0IAH5WoFAFuQA,aM48gA"),
		quirks: []Quirk{QSDPSprop},
		want:   goodSDP,
		check:  wantH264Params,
	},
	{
		name:   "H.264 parameter sets with a space",
		sdp:    sdpWith("Z0IAH5WoFAFuQA==,aM48gA==", "Z0IAH5Wo FAFuQA==,aM48gA=="),
		quirks: []Quirk{QSDPSprop},
		want:   goodSDP,
	},
	{
		name:   "H.264 parameter sets that are not base64",
		sdp:    sdpWith("Z0IAH5WoFAFuQA==,aM48gA==", "(null),(null)"),
		quirks: []Quirk{QSDPSprop},
		want:   sdpWith(";sprop-parameter-sets=Z0IAH5WoFAFuQA==,aM48gA==", ""),
	},
	{
		name:   "H.265 parameter set without padding",
		sdp:    h265SDP("RAHBcrRiQA"),
		quirks: []Quirk{QSDPSprop},
		want:   h265SDP("RAHBcrRiQA=="),
	},
	{
		name:   "H.265 PPS that does not parse",
		sdp:    h265SDP("AAAA"),
		quirks: []Quirk{QSDPSprop},
		want:   "v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H265/90000\r\na=control:trackID=1\r\n",
	},
	{
		name:   "packetization-mode after a space",
		sdp:    sdpWith("packetization-mode=1", "packetization-mode= 1"),
		quirks: []Quirk{QSDPFmtp},
		want:   goodSDP,
	},
	{
		name: "AAC profile-level-id in hex",
		sdp: goodSDP + "m=audio 0 RTP/AVP 97\r\na=rtpmap:97 MPEG4-GENERIC/16000/1\r\n" +
			"a=fmtp:97 streamtype=5;profile-level-id=0F;mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3;config=1408\r\n",
		quirks: []Quirk{QSDPFmtp},
		want: goodSDP + "m=audio 0 RTP/AVP 97\r\na=rtpmap:97 MPEG4-GENERIC/16000/1\r\n" +
			"a=fmtp:97 streamtype=5;mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3;config=1408\r\n",
	},
	{
		name: "MPEG-4 video config that is not hex",
		sdp: goodSDP + "m=video 0 RTP/AVP 98\r\na=rtpmap:98 MP4V-ES/90000\r\n" +
			"a=fmtp:98 profile-level-id=1;config=000001B0F5000001B5\r\n",
		quirks: []Quirk{QSDPFmtp},
		want:   goodSDP + "m=video 0 RTP/AVP 98\r\na=rtpmap:98 MP4V-ES/90000\r\na=fmtp:98 profile-level-id=1\r\n",
	},
	{
		name: "VP8 max-fr with a unit",
		sdp: goodSDP + "m=video 0 RTP/AVP 100\r\na=rtpmap:100 VP8/90000\r\n" +
			"a=fmtp:100 max-fr=30fps;max-fs=3600)\r\n",
		quirks: []Quirk{QSDPFmtp},
		want:   goodSDP + "m=video 0 RTP/AVP 100\r\na=rtpmap:100 VP8/90000\r\na=fmtp:100 max-fs=3600\r\n",
	},
	{
		name: "Speex vbr in capitals",
		sdp: goodSDP + "m=audio 0 RTP/AVP 101\r\na=rtpmap:101 speex/16000\r\n" +
			"a=fmtp:101 vbr=ON\r\n",
		quirks: []Quirk{QSDPFmtp},
		want:   goodSDP + "m=audio 0 RTP/AVP 101\r\na=rtpmap:101 speex/16000\r\n",
	},
	{
		name:   "Opus with one channel",
		sdp:    sdpWith("m=audio 0 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000", "m=audio 0 RTP/AVP 111\r\na=rtpmap:111 opus/48000/1"),
		quirks: []Quirk{QSDPOpus},
		want:   sdpWith("m=audio 0 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000", "m=audio 0 RTP/AVP 111\r\na=rtpmap:111 opus/48000/2"),
	},
	{
		name:   "mid with a dash",
		sdp:    sdpWith("a=control:trackID=1", "a=mid:v-1\r\na=control:trackID=1"),
		quirks: []Quirk{QSDPMid},
		want:   goodSDP,
	},
	{
		name:   "mid on one media only",
		sdp:    sdpWith("a=control:trackID=1", "a=mid:v1\r\na=control:trackID=1"),
		quirks: []Quirk{QSDPMid},
		want:   goodSDP,
	},
	{
		name:   "key-mgmt that is not MIKEY",
		sdp:    sdpWith("a=control:trackID=2", "a=key-mgmt:prtc KEYDATA\r\na=control:trackID=2"),
		quirks: []Quirk{QSDPKeyMgmt},
		want:   goodSDP,
	},
	{
		name:   "relative session control",
		sdp:    sdpWith("a=control:*", "a=control:trackID=0"),
		quirks: []Quirk{QSDPControl},
		want:   sdpWith("a=control:*\r\n", ""),
	},
	{
		name:   "media control with IPv6 host without brackets",
		sdp:    sdpWith("a=control:trackID=1", "a=control:rtsp://::ffff:10.1.2.3/cam/trackID=1"),
		quirks: []Quirk{QSDPControl},
		want:   sdpWith("a=control:trackID=1", "a=control:rtsp://[::ffff:10.1.2.3]/cam/trackID=1"),
	},
	{
		name: "several faults at once",
		sdp: strings.ReplaceAll(strings.Replace(strings.Replace(goodSDP,
			"t=0 0", "t=0", 1),
			"a=control:trackID=2", "s=audio\r\na=control:trackID=2", 1),
			"\r\n", "\n") + "\x00",
		quirks: []Quirk{QSDPNul, QSDPTiming, QSDPMisplaced},
		want:   sdpWith("t=0 0\r\n", ""),
	},
}

// TestEveryQuirkHasACase keeps the tables honest: each quirk the package can
// report is shown to be needed by at least one row.
func TestEveryQuirkHasACase(t *testing.T) {
	all := []Quirk{
		QLineEnding, QStatusLine, QFoldedHeader, QHeaderNoColon, QHeaderSpacing,
		QCSeq, QContentLength, QSession, QWWWAuth, QContentType, QContentBase, QLocation,
		QNoInterleaved, QBadInterleaved, QTCPProfile, QPorts, QTransportSyntax, QTransportMulti,
		QSDPBareCR, QSDPBOM, QSDPNul, QSDPLeadingSpace, QSDPTrailingSpace, QSDPJunkLine,
		QSDPVersion, QSDPMisplaced, QSDPUnknownKey, QSDPMediaLine, QSDPMediaDropped,
		QSDPFormatDropped, QSDPRtpmapPT, QSDPSprop, QSDPFmtp, QSDPOpus, QSDPMid,
		QSDPKeyMgmt, QSDPControl, QSDPOrigin, QSDPConnection, QSDPBandwidth, QSDPTiming,
		QSDPRepeat, QSDPTimeZone, QSDPURI,
	}
	covered := map[Quirk]bool{}
	for _, cs := range [][]quirkCase{messageCases, headerCases, setupCases} {
		for _, c := range cs {
			for _, q := range c.quirks {
				covered[q] = true
			}
		}
	}
	for _, c := range sdpCases {
		for _, q := range c.quirks {
			covered[q] = true
		}
	}
	for _, q := range all {
		if !covered[q] {
			t.Errorf("no case for %q", q)
		}
	}
}

// TestOnQuirkOncePerConnection sends the same fault twice and two faults
// once on one connection.
func TestOnQuirkOncePerConnection(t *testing.T) {
	reqs := [][]byte{
		optionsReq.bytes(),
		testReq{method: base.Options, url: camURL, cseq: 2}.bytes(),
		testReq{method: base.Setup, url: camURL + "/trackID=1", cseq: 3, transport: "RTP/AVP/TCP;unicast;interleaved=0-1"}.bytes(),
		testReq{method: base.Setup, url: camURL + "/trackID=2", cseq: 4, transport: "RTP/AVP/TCP;unicast;interleaved=2-3"}.bytes(),
	}
	camera := "RTSP/1.0 200 OK\nCSeq: 1\n\n" +
		"RTSP/1.0 200 OK\nCSeq: 2\n\n" +
		setupAnswer("RTP/AVP/TCP;unicast") +
		strings.Replace(setupAnswer("RTP/AVP/TCP;unicast"), "CSeq: 3", "CSeq: 4", 1)
	r := runWrap(t, reqs, []byte(camera), nil, 4096)
	if !slices.Equal(r.quirks, []Quirk{QLineEnding, QNoInterleaved}) {
		t.Errorf("quirks %q", r.quirks)
	}
	if len(r.responses) != 4 {
		t.Fatalf("%d responses", len(r.responses))
	}
	var th headers.Transport
	if err := th.Unmarshal(r.responses[3].Header["Transport"]); err != nil || *th.InterleavedIDs != [2]int{2, 3} {
		t.Errorf("second SETUP: %v %v", th.InterleavedIDs, err)
	}
}
