package config

import (
	"fmt"
	"net"
	"strconv"
)

// checkAll makes the checks that span keys, once every file is read.
func checkAll(cfg *Config, at places) error {
	if err := checkPairs(cfg, at); err != nil {
		return err
	}
	return checkUDP(&cfg.RTSP, at)
}

// checkUDP checks rtsp.rtp_address and rtsp.rtcp_address: RTP on an even
// port and RTCP on the next (RTSP clients assume the pair; gortsplib
// requires it), both set or both "". One written alone takes the other
// along: rtp_address ":9000" alone means RTCP on 9001.
func checkUDP(c *RTSP, at places) error {
	const rtpKey, rtcpKey = "rtsp.rtp_address", "rtsp.rtcp_address"
	rtpAt, rtpSet := at[rtpKey]
	rtcpAt, rtcpSet := at[rtcpKey]
	switch {
	case rtpSet && !rtcpSet:
		c.RTCPAddress = shiftPort(c.RTPAddress, 1)
	case rtcpSet && !rtpSet:
		c.RTPAddress = shiftPort(c.RTCPAddress, -1)
	}
	if c.RTPAddress == "" && c.RTCPAddress == "" {
		return nil
	}
	bad := func(where place, key, msg string, args ...any) error {
		return &Error{File: where.file, Line: where.line, Key: key, Msg: fmt.Sprintf(msg, args...)}
	}
	if c.RTPAddress == "" || c.RTCPAddress == "" {
		key, where, other := rtpKey, rtpAt, rtcpKey
		if c.RTCPAddress == "" {
			key, where, other = rtcpKey, rtcpAt, rtpKey
		}
		return bad(where, key, "is empty but %s is not: give both, or both \"\" to turn UDP readers off", other)
	}
	rtp, rtcp := port(c.RTPAddress), port(c.RTCPAddress)
	if rtp == 0 || rtp%2 != 0 {
		return bad(rtpAt, rtpKey, "the RTP port must be even and not 0 (RTCP takes the next one), got %q", c.RTPAddress)
	}
	if rtcp != rtp+1 {
		return bad(rtcpAt, rtcpKey, "the RTCP port must be the one after the RTP port (%d for rtp_address %q), got %q",
			rtp+1, c.RTPAddress, c.RTCPAddress)
	}
	return nil
}

// port is the port of a host:port checked at decoding, or -1 for "".
func port(addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return -1
	}
	n, _ := strconv.Atoi(p)
	return n
}

// shiftPort is addr with its port moved by d; "" stays "".
func shiftPort(addr string, d int) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return net.JoinHostPort(host, strconv.Itoa(port(addr)+d))
}
