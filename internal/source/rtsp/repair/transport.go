package repair

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/headers"
)

// transportUsable reports whether gortsplib's SETUP would take th as the
// answer to req, as far as a repair could change that.
func transportUsable(th *headers.Transport, req *headers.Transport) bool {
	if req.Protocol != headers.TransportProtocolTCP {
		return true
	}
	ids := th.InterleavedIDs
	return th.Protocol == headers.TransportProtocolTCP && ids != nil && ids[0]+1 == ids[1]
}

// fixTransport rebuilds the Transport of a SETUP answer (vs, as gortsplib
// reads them) from what the camera evidently meant and what we asked for
// (req). ok is false when vs needs no repair or cannot be repaired.
func fixTransport(vs []string, req *headers.Transport) (string, []Quirk, bool) {
	var th headers.Transport
	if len(vs) == 1 && th.Unmarshal(base.HeaderValue{vs[0]}) == nil && transportUsable(&th, req) {
		return "", nil, false
	}
	if len(vs) == 0 {
		return "", nil, false // nothing tells what the camera does
	}

	var qs quirkSet
	reqTCP := req.Protocol == headers.TransportProtocolTCP
	v := pickTransport(vs, reqTCP, &qs)
	t := parseTransport(v, &qs)

	switch {
	case t.profile == "":
		// no usable profile: the parameters say which one it is
		if (t.get("interleaved") != nil) != reqTCP {
			return "", nil, false
		}
		t.profile = profileFor(req)
		qs.add(QTransportSyntax)
	case reqTCP && !strings.HasSuffix(t.profile, "/TCP") && t.get("interleaved") != nil &&
		t.get("client_port") == nil && t.get("server_port") == nil:
		// interleaved channels only exist over TCP
		t.profile = profileFor(req)
		qs.add(QTCPProfile)
	}

	if reqTCP {
		ids := req.InterleavedIDs
		switch p := t.get("interleaved"); {
		case ids == nil:
		case p == nil:
			t.params = append(t.params, tparam{key: "interleaved", val: formatRange(ids[0], ids[1]), hasVal: true})
			qs.add(QNoInterleaved)
		default:
			lo, hi, ok := parseRange(p.val)
			switch {
			case !ok:
				p.val = formatRange(ids[0], ids[1])
				qs.add(QBadInterleaved)
			case hi != lo+1:
				p.val = formatRange(lo, lo+1)
				qs.add(QBadInterleaved)
			}
		}
	} else if req.ClientPorts != nil {
		// our own ports, echoed back: what we asked for is right
		want := formatRange(req.ClientPorts[0], req.ClientPorts[1])
		if p := t.get("client_port"); p == nil {
			t.params = append(t.params, tparam{key: "client_port", val: want, hasVal: true})
		} else if p.val != want {
			p.val = want
			qs.add(QPorts)
		}
	}

	out := t.String()
	var chk headers.Transport
	if chk.Unmarshal(base.HeaderValue{out}) != nil || !transportUsable(&chk, req) || len(qs.list()) == 0 {
		return "", nil, false
	}
	return out, qs.list(), true
}

func profileFor(req *headers.Transport) string {
	p := "RTP/AVP"
	if req.Profile == headers.TransportProfileSAVP {
		p = "RTP/SAVP"
	}
	if req.Protocol == headers.TransportProtocolTCP {
		p += "/TCP"
	}
	return p
}

// pickTransport chooses, among several Transport headers and several
// comma-separated transports, the one for the lower transport we asked for.
func pickTransport(vs []string, reqTCP bool, qs *quirkSet) string {
	var specs []string
	for _, v := range vs {
		specs = append(specs, splitTransports(v)...)
	}
	if len(vs) > 1 || len(specs) > 1 {
		qs.add(QTransportMulti)
	}
	for _, s := range specs {
		if isTCPSpec(s) == reqTCP {
			return s
		}
	}
	return specs[0]
}

func isTCPSpec(s string) bool {
	prof, _, _ := strings.Cut(s, ";")
	if strings.HasSuffix(strings.ToUpper(trimSpace(prof)), "/TCP") {
		return true
	}
	return strings.Contains(strings.ToLower(s), "interleaved")
}

// splitTransports splits a Transport value at the commas that start another
// transport (a new profile), not at commas inside a parameter.
func splitTransports(v string) []string {
	var out []string
	parts := splitQuoted(v, ',')
	cur := parts[0]
	for _, p := range parts[1:] {
		if looksLikeProfile(p) {
			out = append(out, cur)
			cur = p
		} else {
			cur += "," + p
		}
	}
	return append(out, cur)
}

func looksLikeProfile(s string) bool {
	tok, _, _ := strings.Cut(trimSpace(s), ";")
	return !strings.Contains(tok, "=") && strings.Contains(tok, "/")
}

type tparam struct {
	key, val string
	hasVal   bool
}

type transport struct {
	profile string
	params  []tparam
}

func (t *transport) get(key string) *tparam {
	for i := range t.params {
		if t.params[i].key == key {
			return &t.params[i]
		}
	}
	return nil
}

func (t *transport) String() string {
	parts := []string{t.profile}
	for _, p := range t.params {
		if p.hasVal {
			parts = append(parts, p.key+"="+p.val)
		} else {
			parts = append(parts, p.key)
		}
	}
	return strings.Join(parts, ";")
}

var profiles = map[string]bool{
	"RTP/AVP": true, "RTP/AVP/UDP": true, "RTP/AVP/TCP": true,
	"RTP/SAVP": true, "RTP/SAVP/UDP": true, "RTP/SAVP/TCP": true,
}

// parseTransport reads one transport leniently: any case and spacing, ',' as
// a stray separator, quotes anywhere, numbers followed by junk.
func parseTransport(v string, qs *quirkSet) *transport {
	t := &transport{}
	if strings.Count(v, `"`)%2 != 0 {
		v = strings.ReplaceAll(v, `"`, "")
		qs.add(QTransportSyntax)
	}
	for i, raw := range splitQuoted(v, ';') {
		for j, item := range splitQuoted(raw, ',') {
			if j > 0 {
				if prev := t.params; len(prev) > 0 && strings.HasSuffix(prev[len(prev)-1].key, "_port") {
					qs.add(QPorts)
				} else {
					qs.add(QTransportSyntax)
				}
			}
			if i == 0 && j == 0 {
				if t.setProfile(item, qs) {
					continue
				}
				if looksLikeProfile(item) {
					qs.add(QTransportSyntax) // a profile gortsplib does not know
					continue
				}
			}
			t.addParam(item, qs)
		}
	}
	return t
}

// setProfile takes item as the profile if it is one, in any spelling.
func (t *transport) setProfile(item string, qs *quirkSet) bool {
	p := strings.ToUpper(strings.Join(strings.Fields(item), ""))
	if !profiles[p] {
		return false
	}
	if p != strings.TrimLeft(item, " ") {
		qs.add(QTransportSyntax)
	}
	t.profile = p
	return true
}

// known are the parameters gortsplib reads; faults elsewhere do not matter.
var known = map[string]bool{
	"unicast": true, "multicast": true, "interleaved": true, "client_port": true,
	"server_port": true, "port": true, "ssrc": true, "mode": true, "ttl": true,
	"source": true, "destination": true,
}

func (t *transport) addParam(item string, qs *quirkSet) {
	k, v, hasVal := strings.Cut(item, "=")
	key := strings.ToLower(trimSpace(k))
	if key == "" {
		return
	}
	unq := strings.Trim(v, `"`)
	val := strings.Trim(trimSpace(v), `"`)
	if !known[key] {
		t.params = append(t.params, tparam{key: trimSpace(k), val: val, hasVal: hasVal})
		return
	}
	if key != strings.TrimLeft(k, " ") || (key != "ssrc" && hasVal && val != unq) {
		qs.add(QTransportSyntax)
	}
	p := tparam{key: key, val: val, hasVal: hasVal}
	switch key {
	case "unicast", "multicast":
		p.hasVal, p.val = false, ""
	case "interleaved", "client_port", "server_port", "port":
		lo, hi, ok := parseRange(val)
		if !ok {
			if key == "interleaved" {
				// kept so that the caller can tell bad from missing
				t.params = append(t.params, p)
			} else {
				qs.add(QPorts)
			}
			return
		}
		if f := formatRange(lo, hi); f != val {
			p.val = f
			if key == "interleaved" {
				qs.add(QBadInterleaved)
			} else {
				qs.add(QPorts)
			}
		}
	case "ssrc":
		// gortsplib ignores an SSRC it cannot read, so no quirk here
		s, ok := normalSSRC(val)
		if !ok {
			return
		}
		p.val = s
	case "mode":
		var tm headers.Transport
		if tm.Unmarshal(base.HeaderValue{"RTP/AVP;mode=" + val}) != nil {
			qs.add(QTransportSyntax)
			return // we only play; the mode adds nothing
		}
	case "ttl":
		if _, err := strconv.ParseUint(val, 10, 32); err != nil {
			qs.add(QTransportSyntax)
			return
		}
	case "source", "destination":
		if val == "" {
			return
		}
	}
	if t.get(key) != nil {
		qs.add(QTransportSyntax)
		return // the first one counts
	}
	t.params = append(t.params, p)
}

// parseRange reads "a-b" or "a", each a number maybe followed by junk.
func parseRange(v string) (int, int, bool) {
	a, rest := leadingDigits(trimSpace(v))
	lo, err := strconv.Atoi(a)
	if err != nil || lo > 65535 {
		return 0, 0, false
	}
	rest = strings.TrimLeft(rest, " \t")
	if !strings.HasPrefix(rest, "-") {
		return lo, lo + 1, true
	}
	b, _ := leadingDigits(strings.TrimLeft(rest[1:], " \t"))
	hi, err := strconv.Atoi(b)
	if err != nil || hi > 65535 {
		return lo, lo + 1, true
	}
	return lo, hi, true
}

func formatRange(lo, hi int) string {
	return strconv.Itoa(lo) + "-" + strconv.Itoa(hi)
}

// normalSSRC returns an SSRC as 8 hex digits. Cameras send hex of any
// length, with 0x, or decimal when it is too long for hex.
func normalSSRC(v string) (string, bool) {
	v = strings.TrimPrefix(strings.TrimPrefix(v, "0x"), "0X")
	if len(v) > 0 && len(v) <= 8 {
		s := v
		if len(s)%2 != 0 {
			s = "0" + s
		}
		if b, err := hex.DecodeString(s); err == nil {
			var full [4]byte
			copy(full[4-len(b):], b)
			return strings.ToUpper(hex.EncodeToString(full[:])), true
		}
	}
	if n, err := strconv.ParseUint(v, 10, 32); err == nil {
		return fmt.Sprintf("%08X", n), true
	}
	return "", false
}
