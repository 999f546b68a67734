package config

import (
	"strings"
	"testing"
)

func TestUDPAddresses(t *testing.T) {
	for _, tc := range []struct {
		name, yml string
		rtp, rtcp string
	}{
		{"defaults", "", ":8000", ":8001"},
		{"both", "rtsp:\n  rtp_address: 127.0.0.1:9000\n  rtcp_address: 127.0.0.1:9001\n", "127.0.0.1:9000", "127.0.0.1:9001"},
		{"rtp alone takes rtcp along", "rtsp:\n  rtp_address: \":9000\"\n", ":9000", ":9001"},
		{"rtcp alone takes rtp along", "rtsp:\n  rtcp_address: \"[::1]:9001\"\n", "[::1]:9000", "[::1]:9001"},
		{"off", "rtsp:\n  rtp_address: \"\"\n  rtcp_address: \"\"\n", "", ""},
		{"off by rtp alone", "rtsp:\n  rtp_address: \"\"\n", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := mustParse(t, tc.yml)
			if cfg.RTSP.RTPAddress != tc.rtp || cfg.RTSP.RTCPAddress != tc.rtcp {
				t.Errorf("rtp %q rtcp %q, want %q %q", cfg.RTSP.RTPAddress, cfg.RTSP.RTCPAddress, tc.rtp, tc.rtcp)
			}
		})
	}
}

func TestUDPAddressErrors(t *testing.T) {
	for _, tc := range []struct{ name, yml, want string }{
		{"odd rtp", "rtsp:\n  rtp_address: \":9001\"\n",
			`config.yaml:2: rtsp.rtp_address: the RTP port must be even and not 0 (RTCP takes the next one), got ":9001"`},
		{"rtcp not next", "rtsp:\n  rtp_address: \":9000\"\n  rtcp_address: \":9005\"\n",
			`config.yaml:3: rtsp.rtcp_address: the RTCP port must be the one after the RTP port (9001 for rtp_address ":9000"), got ":9005"`},
		{"one empty", "rtsp:\n  rtp_address: \":9000\"\n  rtcp_address: \"\"\n",
			`config.yaml:3: rtsp.rtcp_address: is empty but rtsp.rtp_address is not: give both, or both "" to turn UDP readers off`},
		{"port alone", "rtsp:\n  rtp_address: 9000\n",
			`config.yaml:2: rtsp.rtp_address: want host:port or :port with a port from 0 to 65535, got "9000" (did you mean ":9000"?)`},
		{"typo", "rtsp:\n  rtp_adress: \":9000\"\n", "config.yaml:2: rtsp.rtp_adress: unknown key; did you mean rtsp.rtp_address?"},
		{"mediamtx spelling", "rtsp:\n  rtpAddress: \":9000\"\n", "config.yaml:2: rtsp.rtpAddress: unknown key; did you mean rtsp.rtp_address?"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("config.yaml", []byte(tc.yml), env(nil))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error\n  %v\nwant\n  %s", err, tc.want)
			}
		})
	}
}
