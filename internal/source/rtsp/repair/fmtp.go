package repair

import (
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"
)

// fmtpParam is one ;-separated item of an fmtp line.
type fmtpParam struct {
	key string // lower case; "" for an item that is not key=value
	raw string // the item as it was, for those left alone
	val string
}

type fmtpParams []fmtpParam

// parseFmtp splits an fmtp value the way gortsplib decodes it.
func parseFmtp(s string) fmtpParams {
	var ps fmtpParams
	for item := range strings.SplitSeq(s, ";") {
		item = strings.Trim(item, " ")
		if item == "" {
			continue
		}
		p := fmtpParam{raw: item}
		if k, v, ok := strings.Cut(item, "="); ok {
			p.key, p.val = strings.ToLower(k), v
		}
		ps = append(ps, p)
	}
	return ps
}

func (ps fmtpParams) String() string {
	items := make([]string, len(ps))
	for i, p := range ps {
		items[i] = p.raw
	}
	return strings.Join(items, ";")
}

func (ps *fmtpParams) get(key string) *fmtpParam {
	for i := range *ps {
		if (*ps)[i].key == key {
			return &(*ps)[i]
		}
	}
	return nil
}

func (ps *fmtpParams) set(key, v string) {
	if p := ps.get(key); p != nil {
		p.val = v
		p.raw = key + "=" + v
	}
}

func (ps *fmtpParams) del(key string) bool {
	n := len(*ps)
	out := (*ps)[:0]
	for _, p := range *ps {
		if p.key != key {
			out = append(out, p)
		}
	}
	*ps = out
	return len(out) != n
}

// numeric lists, per codec, the optional fmtp parameters gortsplib reads as
// decimal numbers and refuses the whole SDP for when they are not.
var numeric = map[string][]string{
	"h264":          {"packetization-mode"},
	"h265":          {"sprop-max-don-diff"},
	"mpeg4-generic": {"profile-level-id"},
	"mp4a-latm":     {"profile-level-id", "bitrate"},
	"mp4v-es":       {"profile-level-id"},
	"vp8":           {"max-fr", "max-fs"},
	"vp9":           {"max-fr", "max-fs", "profile-id"},
	"av1":           {"level-idx", "profile", "tier"},
}

// lastResort lists parameters dropped when a format still fails: decoders
// then take parameter sets from the stream itself.
var lastResort = map[string][]string{
	"h264":    {"sprop-parameter-sets"},
	"h265":    {"sprop-vps", "sprop-sps", "sprop-pps"},
	"mp4v-es": {"config"},
}

// fix repairs the parameters of codec that gortsplib refuses.
func (ps *fmtpParams) fix(codec string, qs *quirkSet) {
	for _, k := range numeric[codec] {
		p := ps.get(k)
		if p == nil {
			continue
		}
		if _, err := strconv.ParseUint(p.val, 10, 31); err == nil {
			continue
		}
		qs.add(QSDPFmtp)
		if n, ok := lenientNumber(p.val); ok {
			ps.set(k, n)
		} else {
			ps.del(k)
		}
	}

	switch codec {
	case "h264":
		if p := ps.get("sprop-parameter-sets"); p != nil && !h264SpropOK(p.val) {
			qs.add(QSDPSprop)
			if v, ok := fixH264Sprop(p.val); ok {
				ps.set("sprop-parameter-sets", v)
			} else {
				ps.del("sprop-parameter-sets")
			}
		}
	case "h265":
		// sets that decode but do not parse are left to lastResort
		for _, k := range []string{"sprop-vps", "sprop-sps", "sprop-pps"} {
			if p := ps.get(k); p != nil && !b64OK(p.val) {
				qs.add(QSDPSprop)
				v, ok := cleanBase64(p.val)
				if !ok {
					// a partial set is no use: the stream carries them too
					ps.del("sprop-vps")
					ps.del("sprop-sps")
					ps.del("sprop-pps")
					break
				}
				ps.set(k, v)
			}
		}
	case "mpeg4-generic":
		if p := ps.get("streamtype"); p != nil && p.val != "5" {
			qs.add(QSDPFmtp) // only informative, and AAC is always 5
			ps.del("streamtype")
		}
	case "mp4v-es":
		if p := ps.get("config"); p != nil {
			if _, err := hex.DecodeString(p.val); err != nil {
				qs.add(QSDPFmtp)
				ps.del("config")
			}
		}
	case "speex":
		if p := ps.get("vbr"); p != nil && p.val != "on" && p.val != "off" {
			qs.add(QSDPFmtp)
			ps.del("vbr")
		}
	}
}

// lenientNumber reads "1 ", "\t1" or "1)" as 1, but not "0F" (a hex value
// is not the decimal it starts with).
func lenientNumber(v string) (string, bool) {
	d, rest := leadingDigits(trimSpace(v))
	if d == "" || (rest != "" && isAlnum(rest[0])) {
		return "", false
	}
	if _, err := strconv.ParseUint(d, 10, 31); err != nil {
		return "", false
	}
	return d, true
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func b64OK(s string) bool {
	_, err := base64.StdEncoding.DecodeString(s)
	return err == nil
}

// h264SpropOK mirrors gortsplib: the first two parameter sets must decode.
func h264SpropOK(v string) bool {
	parts := strings.Split(v, ",")
	return len(parts) < 2 || (b64OK(parts[0]) && b64OK(parts[1]))
}

func fixH264Sprop(v string) (string, bool) {
	parts := strings.Split(v, ",")
	var out []string
	for _, p := range parts {
		c, ok := cleanBase64(p)
		if !ok {
			return "", false
		}
		if c != "" {
			out = append(out, c)
		}
	}
	s := strings.Join(out, ",")
	return s, len(out) >= 2 && h264SpropOK(s)
}

// cleanBase64 fixes what cameras get wrong in base64: blanks inside, the
// URL-safe alphabet, missing or extra padding.
func cleanBase64(s string) (string, bool) {
	s = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '"':
			return -1
		case '-':
			return '+'
		case '_':
			return '/'
		}
		return r
	}, s)
	s = strings.TrimRight(s, "=")
	if s == "" {
		return "", true
	}
	if len(s)%4 == 1 {
		return "", false
	}
	s += strings.Repeat("=", (4-len(s)%4)%4)
	return s, b64OK(s)
}
