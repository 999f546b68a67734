package repair

import (
	"encoding/base64"
	"errors"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/mikey"
	"github.com/bluenviron/gortsplib/v5/pkg/sdpunmarshaler"
)

var errControl = errors.New("control attribute is not a URL")

// Repairs re-parse a media once per format, so their size is bounded; real
// SDPs are a few KiB with a handful of formats.
const (
	maxSDP     = 32 << 10
	maxFormats = 64
)

// sdpAccepted checks b the way gortsplib's DESCRIBE and SETUP use it
// (Content-Base aside, which is checked on its own).
func sdpAccepted(b []byte) error {
	sd, err := sdpunmarshaler.Unmarshal(b)
	if err != nil {
		return err
	}
	var d description.Session
	if err := d.Unmarshal2(sd); err != nil {
		return err
	}
	if ctl, ok := sd.Attribute("control"); ok && ctl != "*" && !urlOK(ctl) {
		return errControl
	}
	for _, m := range d.Medias {
		if isAbsolute(m.Control) && !urlOK(m.Control) {
			return errControl
		}
	}
	return nil
}

func isAbsolute(u string) bool {
	return strings.HasPrefix(u, "rtsp://") || strings.HasPrefix(u, "rtsps://")
}

type sdpLine struct {
	key byte
	val string
}

func (l sdpLine) String() string { return string(l.key) + "=" + l.val }

// attr splits an a= line as gortsplib does: key:value or a bare property.
func (l sdpLine) attr() (string, string) {
	if i := strings.IndexByte(l.val, ':'); i > 0 {
		return l.val[:i], l.val[i+1:]
	}
	return l.val, ""
}

func (l sdpLine) isAttr(key string) bool {
	k, _ := l.attr()
	return l.key == 'a' && k == key
}

// sdpMedia is one media section; lines[0] is its m= line.
type sdpMedia struct {
	lines []sdpLine
}

type sdpDoc struct {
	session []sdpLine
	medias  []*sdpMedia
}

func (d *sdpDoc) bytes() []byte {
	var b strings.Builder
	for _, l := range d.session {
		b.WriteString(l.String() + "\r\n")
	}
	for _, m := range d.medias {
		for _, l := range m.lines {
			b.WriteString(l.String() + "\r\n")
		}
	}
	return []byte(b.String())
}

// fixSDP repairs an SDP gortsplib refuses. It returns nil when the SDP is
// fine or beyond repair.
func fixSDP(body []byte) ([]byte, []Quirk) {
	if len(body) > maxSDP || sdpAccepted(body) == nil {
		return nil, nil
	}
	var qs quirkSet
	d := splitSDP(body, &qs)
	if d.formatCount() > maxFormats {
		return nil, nil
	}
	d.fixLines(&qs)
	if _, err := sdpunmarshaler.Unmarshal(d.bytes()); err != nil {
		return nil, nil
	}
	d.fixKeyMgmt(&qs)
	d.fixMids(&qs)
	d.fixFormats(&qs)
	d.fixControls(&qs)
	if len(d.medias) == 0 {
		return nil, nil
	}
	out := d.bytes()
	if sdpAccepted(out) != nil {
		return nil, nil
	}
	return out, qs.list()
}

// splitSDP cuts body into lines the way other players read SDP: any line
// ending, leading blanks ignored, lines that are not key=value skipped.
func splitSDP(body []byte, qs *quirkSet) *sdpDoc {
	s := string(body)
	if t, ok := strings.CutPrefix(s, "\ufeff"); ok {
		s = t
		qs.add(QSDPBOM)
	}
	if strings.Contains(s, "\x00") {
		s = strings.ReplaceAll(s, "\x00", "")
		qs.add(QSDPNul)
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '\r' && s[i+1] != '\r' && s[i+1] != '\n' {
			qs.add(QSDPBareCR) // a CR alone ends the line, not nothing
			break
		}
	}
	s = strings.ReplaceAll(s, "\r", "\n")

	d := &sdpDoc{}
	for raw := range strings.SplitSeq(s, "\n") {
		t := strings.TrimLeft(raw, " \t")
		if trimSpace(t) == "" {
			if raw != "" {
				qs.add(QSDPJunkLine)
			}
			continue
		}
		if t != raw {
			qs.add(QSDPLeadingSpace)
		}
		if len(t) < 2 || t[1] != '=' {
			qs.add(QSDPJunkLine)
			continue
		}
		l := sdpLine{key: t[0], val: t[2:]}
		switch {
		case l.key == 'm':
			d.medias = append(d.medias, &sdpMedia{lines: []sdpLine{l}})
		case len(d.medias) > 0:
			m := d.medias[len(d.medias)-1]
			m.lines = append(m.lines, l)
		default:
			d.session = append(d.session, l)
		}
	}
	return d
}

const (
	sessionKeys = "osiuepcbzkatr"
	mediaKeys   = "icbka"
)

type lineCtx int

const (
	ctxSession lineCtx = iota
	ctxMedia
)

// lineOK asks gortsplib's SDP parser whether it takes l in that context.
func lineOK(l sdpLine, ctx lineCtx) bool {
	prefix := "v=0\n"
	switch {
	case l.key == 'm':
	case ctx == ctxMedia:
		prefix += "m=video 0 RTP/AVP 26\n"
	case l.key == 'r':
		prefix += "t=0 0\n"
	}
	_, err := sdpunmarshaler.Unmarshal([]byte(prefix + l.String() + "\n"))
	return err == nil
}

// fixValue returns l or, if gortsplib refuses it, l without trailing blanks.
// ok is false when neither is accepted.
func fixValue(l sdpLine, ctx lineCtx, qs *quirkSet) (sdpLine, bool) {
	if lineOK(l, ctx) {
		return l, true
	}
	t := sdpLine{key: l.key, val: strings.TrimRight(l.val, " \t")}
	if t.val != l.val && lineOK(t, ctx) {
		qs.add(QSDPTrailingSpace)
		return t, true
	}
	return l, false
}

func (d *sdpDoc) fixLines(qs *quirkSet) {
	var out []sdpLine
	for _, l := range d.session {
		switch {
		case l.key == 'v':
			if len(out) > 0 {
				qs.add(QSDPVersion) // only the first line may be v=
				continue
			}
			if l.val != "0" {
				if trimSpace(l.val) == "0" {
					qs.add(QSDPTrailingSpace)
				} else {
					qs.add(QSDPVersion)
				}
				l.val = "0"
			}
		case strings.IndexByte(sessionKeys, l.key) < 0:
			qs.add(QSDPUnknownKey)
			continue
		case l.key == 'r' && (len(out) == 0 || (out[len(out)-1].key != 't' && out[len(out)-1].key != 'r')):
			qs.add(QSDPMisplaced) // repeat times belong after t=
			continue
		default:
			var ok bool
			if l, ok = fixValue(l, ctxSession, qs); !ok {
				qs.add(sdpMalformed(l.key))
				continue
			}
		}
		out = append(out, l)
	}
	d.session = out

	var medias []*sdpMedia
	for _, m := range d.medias {
		ml, ok := fixValue(m.lines[0], ctxSession, qs)
		if !ok {
			if v, fixed := fixMediaLine(ml.val); fixed {
				ml.val = v
				qs.add(QSDPMediaLine)
			} else {
				qs.add(QSDPMediaDropped)
				continue
			}
		}
		lines := []sdpLine{ml}
		for _, l := range m.lines[1:] {
			switch {
			case strings.IndexByte(mediaKeys, l.key) >= 0:
				var ok bool
				if l, ok = fixValue(l, ctxMedia, qs); !ok {
					qs.add(sdpMalformed(l.key))
					continue
				}
				lines = append(lines, l)
			case l.key == 'v' || strings.IndexByte(sessionKeys, l.key) >= 0:
				qs.add(QSDPMisplaced)
			default:
				qs.add(QSDPUnknownKey)
			}
		}
		m.lines = lines
		medias = append(medias, m)
	}
	d.medias = medias
}

var sdpProtos = map[string]bool{
	"UDP": true, "RTP": true, "AVP": true, "SAVP": true, "SAVPF": true, "MP2T": true,
	"TLS": true, "DTLS": true, "SCTP": true, "AVPF": true, "TCP": true,
}

// fixMediaLine fixes an m= line's media case, port and protocol. Media of a
// type gortsplib does not know are left to be dropped, as other players
// skip them.
func fixMediaLine(v string) (string, bool) {
	f := strings.Fields(v)
	if len(f) < 4 {
		return "", false
	}
	f[0] = strings.ToLower(f[0])
	switch {
	case f[0] == "video", f[0] == "audio", f[0] == "application", f[0] == "metadata",
		f[0] == "meta", f[0] == "text", strings.HasPrefix(f[0], "application/"):
	default:
		return "", false
	}
	port, rng, hasRange := strings.Cut(f[1], "/")
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		f[1] = "0"
	} else if _, err := strconv.Atoi(rng); hasRange && err != nil {
		f[1] = port
	}
	proto := strings.ToUpper(f[2])
	for t := range strings.SplitSeq(proto, "/") {
		if !sdpProtos[t] {
			if strings.Contains(proto, "SAVP") {
				proto = "RTP/SAVP"
			} else {
				proto = "RTP/AVP"
			}
			break
		}
	}
	f[2] = proto
	out := strings.Join(f, " ")
	return out, lineOK(sdpLine{key: 'm', val: out}, ctxSession)
}

func keyMgmtOK(v string) bool {
	if v == "" {
		return true // gortsplib ignores an empty one
	}
	enc, ok := strings.CutPrefix(v, "mikey ")
	if !ok {
		return false
	}
	raw, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return false
	}
	var msg mikey.Message
	return msg.Unmarshal(raw) == nil
}

// fixKeyMgmt drops a key-mgmt attribute gortsplib cannot read: it stops
// the whole SDP, and a plain RTP media has no use for it.
func (d *sdpDoc) fixKeyMgmt(qs *quirkSet) {
	drop := func(lines []sdpLine) []sdpLine {
		for _, l := range lines {
			if l.isAttr("key-mgmt") {
				if _, v := l.attr(); !keyMgmtOK(v) {
					qs.add(QSDPKeyMgmt)
					return slices.DeleteFunc(lines, func(l sdpLine) bool { return l.isAttr("key-mgmt") })
				}
				break // gortsplib reads the first one only
			}
		}
		return lines
	}
	d.session = drop(d.session)
	for _, m := range d.medias {
		m.lines = drop(m.lines)
	}
}

func (m *sdpMedia) mid() string {
	for _, l := range m.lines {
		if l.isAttr("mid") {
			_, v := l.attr()
			return v
		}
	}
	return ""
}

func isAlphaNumeric(v string) bool {
	for _, r := range v {
		if !unicode.IsLetter(r) && !unicode.IsNumber(r) {
			return false
		}
	}
	return true
}

// fixMids drops media IDs gortsplib refuses (odd characters, repeated, or
// on some media only) and FEC groups that then point nowhere. RTSP does not
// need them to play.
func (d *sdpDoc) fixMids(qs *quirkSet) {
	ids := map[string]bool{}
	bad, with := false, 0
	for _, m := range d.medias {
		id := m.mid()
		if id == "" {
			continue
		}
		with++
		if !isAlphaNumeric(id) || ids[id] {
			bad = true
		}
		ids[id] = true
	}
	if bad || (with > 0 && with < len(d.medias)) {
		qs.add(QSDPMid)
		ids = map[string]bool{}
		for _, m := range d.medias {
			m.lines = slices.DeleteFunc(m.lines, func(l sdpLine) bool { return l.isAttr("mid") })
		}
	}
	d.session = slices.DeleteFunc(d.session, func(l sdpLine) bool {
		_, v := l.attr()
		g, ok := strings.CutPrefix(v, "FEC ")
		if !l.isAttr("group") || !ok {
			return false
		}
		for id := range strings.SplitSeq(g, " ") {
			if !ids[id] {
				qs.add(QSDPMid)
				return true
			}
		}
		return false
	})
}

// formatOK asks gortsplib whether it takes format pt of this media.
func (m *sdpMedia) formatOK(pt string) bool {
	d := sdpDoc{medias: []*sdpMedia{m}}
	sd, err := sdpunmarshaler.Unmarshal(d.bytes())
	if err != nil || len(sd.MediaDescriptions) != 1 {
		return false
	}
	_, err = format.Unmarshal(sd.MediaDescriptions[0], pt)
	return err == nil
}

func (d *sdpDoc) formatCount() int {
	n := 0
	for _, m := range d.medias {
		n += max(len(strings.Fields(m.lines[0].val))-3, 0)
	}
	return n
}

func (m *sdpMedia) formats() []string {
	return strings.Fields(m.lines[0].val)[3:]
}

func (m *sdpMedia) setFormats(pts []string) {
	f := strings.Fields(m.lines[0].val)
	m.lines[0].val = strings.Join(append(f[:3], pts...), " ")
}

// fixFormats repairs or drops the formats gortsplib refuses, and drops
// media left without any.
func (d *sdpDoc) fixFormats(qs *quirkSet) {
	var medias []*sdpMedia
	for _, m := range d.medias {
		pts := m.formats()
		var keep []string
		for _, pt := range pts {
			if m.formatOK(pt) {
				keep = append(keep, pt)
				continue
			}
			saved := slices.Clone(m.lines)
			var fq quirkSet
			m.fixFormat(pt, len(pts) == 1, &fq)
			if m.formatOK(pt) {
				qs.add(fq.list()...)
				keep = append(keep, pt)
				continue
			}
			m.lines = saved
			qs.add(QSDPFormatDropped)
		}
		switch {
		case len(keep) == 0:
			qs.add(QSDPMediaDropped)
			continue
		case len(keep) != len(pts):
			m.setFormats(keep)
		}
		medias = append(medias, m)
	}
	d.medias = medias
}

// formatAttr finds the rtpmap or fmtp line of payload type pt the way
// gortsplib does; it returns its index and the text after the type.
func (m *sdpMedia) formatAttr(key string, pt uint64) (int, string) {
	for i, l := range m.lines {
		if !l.isAttr(key) {
			continue
		}
		_, v := l.attr()
		t, rest, ok := strings.Cut(strings.TrimSpace(v), " ")
		if n, err := strconv.ParseUint(t, 10, 8); ok && err == nil && n == pt {
			return i, rest
		}
	}
	return -1, ""
}

func (m *sdpMedia) fixFormat(ptStr string, single bool, qs *quirkSet) {
	pt, err := strconv.ParseUint(ptStr, 10, 8)
	if err != nil {
		return
	}

	if i, _ := m.formatAttr("rtpmap", pt); i < 0 && single {
		m.borrowRtpmap(ptStr, qs)
		if m.formatOK(ptStr) {
			return
		}
	}

	i, rtpmap := m.formatAttr("rtpmap", pt)
	name, clock, _ := strings.Cut(rtpmap, "/")
	codec := strings.ToLower(trimSpace(name))
	if codec == "opus" && clock != "48000/2" {
		// RFC 7587 fixes these whatever the real rate and channels
		m.lines[i].val = "rtpmap:" + ptStr + " " + trimSpace(name) + "/48000/2"
		qs.add(QSDPOpus)
		if m.formatOK(ptStr) {
			return
		}
	}

	j, fmtp := m.formatAttr("fmtp", pt)
	if j < 0 {
		return
	}
	params := parseFmtp(fmtp)
	defer func() {
		if len(params) == 0 {
			m.lines = slices.Delete(m.lines, j, j+1) // nothing left to say
		}
	}()
	params.fix(codec, qs)
	m.lines[j].val = "fmtp:" + ptStr + " " + params.String()
	if m.formatOK(ptStr) {
		return
	}
	// last resort: in-band parameter sets or none at all
	for _, k := range lastResort[codec] {
		if params.del(k) {
			if strings.HasPrefix(k, "sprop-") {
				qs.add(QSDPSprop)
			} else {
				qs.add(QSDPFmtp)
			}
		}
	}
	m.lines[j].val = "fmtp:" + ptStr + " " + params.String()
}

// borrowRtpmap handles a single-format media whose only rtpmap names another
// payload type: the m= line is what the stream uses, so the rtpmap (and its
// fmtp) are given that type too.
func (m *sdpMedia) borrowRtpmap(pt string, qs *quirkSet) {
	listed := m.formats()
	var found []sdpLine
	for _, l := range m.lines {
		if !l.isAttr("rtpmap") {
			continue
		}
		_, v := l.attr()
		t, _, _ := strings.Cut(strings.TrimSpace(v), " ")
		if !slices.Contains(listed, t) {
			found = append(found, l)
		}
	}
	if len(found) != 1 {
		return
	}
	_, v := found[0].attr()
	other, rest, _ := strings.Cut(strings.TrimSpace(v), " ")
	m.lines = append(m.lines, sdpLine{key: 'a', val: "rtpmap:" + pt + " " + rest})
	if n, err := strconv.ParseUint(other, 10, 8); err == nil {
		if _, fmtp := m.formatAttr("fmtp", n); fmtp != "" {
			m.lines = append(m.lines, sdpLine{key: 'a', val: "fmtp:" + pt + " " + fmtp})
		}
	}
	qs.add(QSDPRtpmapPT)
}

// fixControls repairs control URLs gortsplib cannot parse. A session control
// that is not an absolute URL is dropped, as other players ignore it.
func (d *sdpDoc) fixControls(qs *quirkSet) {
	var session []sdpLine
	first := true
	for _, l := range d.session {
		if l.isAttr("control") && first {
			if _, v := l.attr(); v != "*" && !urlOK(v) {
				qs.add(QSDPControl)
				if f, ok := fixURL(v, nil); ok {
					l.val = "control:" + f
				} else {
					continue // the next one, if any, is read instead
				}
			}
			first = false
		}
		session = append(session, l)
	}
	d.session = session

	for _, m := range d.medias {
		for i, l := range m.lines {
			if !l.isAttr("control") {
				continue
			}
			if _, v := l.attr(); isAbsolute(v) && !urlOK(v) {
				if f, ok := fixURL(v, nil); ok {
					m.lines[i].val = "control:" + f
					qs.add(QSDPControl)
				}
			}
			break
		}
	}
}
