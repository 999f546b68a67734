package repair

import (
	"bufio"
	"bytes"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/headers"
)

// Headers gortsplib's client reads; a syntax fault matters only when it
// changes one of these.
var interpreted = []string{
	"CSeq", "Content-Length", "Content-Type", "Content-Base", "Session",
	"Transport", "WWW-Authenticate", "Location", "Public", "KeyMgmt",
}

// gortsplibRead parses b exactly as gortsplib's client does and fails unless
// that takes all of b.
func gortsplibRead(b []byte) (*base.Response, error) {
	rd := bytes.NewReader(b)
	br := bufio.NewReader(rd)
	var res base.Response
	if err := res.Unmarshal(br); err != nil {
		return nil, err
	}
	if rd.Len()+br.Buffered() != 0 {
		return nil, errors.New("message length differs")
	}
	return &res, nil
}

// repairResponse returns raw, or its repaired form when gortsplib would
// refuse raw and the repair is one it accepts.
func (c *conn) repairResponse(raw []byte, m *message) []byte {
	g, gerr := gortsplibRead(raw)
	req, cseq := c.tracker.match(m.gviews("CSeq"))
	if !m.withinLimits() {
		c.onResponse(g)
		return raw // gortsplib would refuse any repair of it too
	}

	r := &responseFix{m: m, body: raw[len(raw)-m.bodyLen:], req: req}
	if gerr != nil || (len(m.flags) > 0 && r.differs(g)) {
		r.qs.add(m.flags...)
	}
	if cseq != "" {
		r.set("CSeq", cseq)
		r.qs.add(QCSeq)
	}
	r.fixContentLength()
	r.fixSession()
	r.fixAuthenticate()
	if req != nil {
		r.fixForMethod()
	}

	if len(r.qs.list()) == 0 {
		c.onResponse(g)
		return raw
	}
	out := r.serialize()
	res, err := gortsplibRead(out)
	if err != nil {
		c.onResponse(g)
		return raw
	}
	c.report(r.qs.list())
	c.onResponse(res)
	return out
}

// gortsplib's limits on a message head.
const (
	maxFields   = 255
	maxNameLen  = 511
	maxValueLen = 2047
)

func (m *message) withinLimits() bool {
	if len(m.fields) > maxFields {
		return false
	}
	for _, f := range m.fields {
		if len(f.name) > maxNameLen || len(f.value) > maxValueLen {
			return false
		}
	}
	return true
}

func (c *conn) onResponse(res *base.Response) {
	if res != nil && c.opts.OnResponse != nil {
		c.opts.OnResponse(res)
	}
}

// responseFix holds one answer while it is repaired.
type responseFix struct {
	m    *message
	body []byte
	req  *request
	qs   quirkSet
}

// differs reports whether gortsplib's reading of the headers it uses differs
// from the camera's meaning.
func (r *responseFix) differs(g *base.Response) bool {
	if g == nil {
		return true
	}
	for _, k := range interpreted {
		var mine []string
		for _, f := range r.m.fields {
			if headerKey(f.name) == k {
				mine = append(mine, f.value)
			}
		}
		theirs := g.Header[k]
		if len(mine) != len(theirs) {
			return true
		}
		for i := range mine {
			if strings.TrimSpace(theirs[i]) != mine[i] {
				return true
			}
		}
	}
	return false
}

// set replaces the headers named key by one with value v.
func (r *responseFix) set(key, v string) {
	done := false
	fs := r.m.fields[:0:0]
	for _, f := range r.m.fields {
		if headerKey(f.name) != key {
			fs = append(fs, f)
			continue
		}
		if !done {
			f.value, f.gview = v, v
			fs = append(fs, f)
			done = true
		}
	}
	if !done {
		fs = append(fs, field{name: key, value: v, gview: v})
	}
	r.m.fields = fs
}

func (r *responseFix) del(key string) {
	r.m.fields = slices.DeleteFunc(slices.Clone(r.m.fields), func(f field) bool {
		return headerKey(f.name) == key
	})
}

func (r *responseFix) fixContentLength() {
	cls := r.m.gviews("Content-Length")
	switch {
	case len(cls) == 0 && len(r.body) == 0:
		return
	case len(cls) == 1:
		if n, err := strconv.ParseUint(cls[0], 10, 64); err == nil && n == uint64(len(r.body)) {
			return
		}
	}
	// serialize writes the right one
	r.qs.add(QContentLength)
}

func (r *responseFix) fixSession() {
	vs := r.m.gviews("Session")
	if len(vs) == 0 {
		return
	}
	v := vs[len(vs)-1] // as other players do: the last one counts
	var sx headers.Session
	if len(vs) == 1 && sx.Unmarshal(base.HeaderValue{v}) == nil {
		return
	}
	if fixed, ok := fixSession(v); ok {
		r.set("Session", fixed)
		r.qs.add(QSession)
	}
}

// fixSession keeps the session id and a usable timeout.
func fixSession(v string) (string, bool) {
	id, params, _ := strings.Cut(v, ";")
	id = strings.TrimSpace(id)
	if id == "" {
		return "", false
	}
	out := id
	for p := range strings.SplitSeq(params, ";") {
		k, val, _ := strings.Cut(p, "=")
		if !strings.EqualFold(strings.TrimSpace(k), "timeout") {
			continue
		}
		d, _ := leadingDigits(strings.Trim(strings.TrimSpace(val), `"`))
		if n, err := strconv.ParseUint(d, 10, 32); err == nil {
			out += ";timeout=" + strconv.FormatUint(n, 10)
			break
		}
	}
	var sx headers.Session
	return out, sx.Unmarshal(base.HeaderValue{out}) == nil
}

func (r *responseFix) fixAuthenticate() {
	if r.m.code != int(base.StatusUnauthorized) {
		return
	}
	changed := false
	for i, f := range r.m.fields {
		if headerKey(f.name) != "WWW-Authenticate" {
			continue
		}
		var a headers.Authenticate
		if a.Unmarshal(base.HeaderValue{f.gview}) == nil {
			continue
		}
		if v, ok := fixAuthenticate(f.value); ok {
			r.m.fields[i].value, r.m.fields[i].gview = v, v
			changed = true
		}
	}
	if changed {
		r.qs.add(QWWWAuth)
	}
}

// fixAuthenticate fixes the scheme's case and the separators between
// parameters, and gives Basic a realm when it has none.
func fixAuthenticate(v string) (string, bool) {
	v = trimSpace(v)
	i := strings.IndexAny(v, " \t")
	if i < 0 {
		i = len(v)
	}
	scheme := v[:i]
	switch strings.ToLower(scheme) {
	case "basic":
		scheme = "Basic"
	case "digest":
		scheme = "Digest"
	default:
		return "", false
	}
	var params []string
	hasRealm := false
	for _, p := range splitQuoted(v[i:], ',') {
		if p = trimSpace(p); p == "" {
			continue
		}
		k, val, ok := strings.Cut(p, "=")
		if ok {
			p = trimSpace(k) + "=" + trimSpace(val)
		}
		if strings.TrimSpace(k) == "realm" {
			hasRealm = true
		}
		params = append(params, p)
	}
	if scheme == "Basic" && !hasRealm {
		params = append(params, `realm=""`)
	}
	out := scheme + " " + strings.Join(params, ", ")
	var a headers.Authenticate
	return out, a.Unmarshal(base.HeaderValue{out}) == nil
}

// splitQuoted splits s at sep outside double quotes.
func splitQuoted(s string, sep byte) []string {
	var parts []string
	quoted := false
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			quoted = !quoted
		case sep:
			if !quoted {
				parts = append(parts, s[start:i])
				start = i + 1
			}
		}
	}
	return append(parts, s[start:])
}

func (r *responseFix) fixForMethod() {
	code := base.StatusCode(r.m.code)
	switch {
	case r.req.method == base.Describe && code == base.StatusOK:
		r.fixDescribe()
	case r.req.method == base.Setup && code == base.StatusOK && r.req.transport != nil:
		vs := r.m.gviews("Transport")
		if v, qs, ok := fixTransport(vs, r.req.transport); ok {
			r.set("Transport", v)
			r.qs.add(qs...)
		}
	case r.req.method == base.Describe && code >= base.StatusMovedPermanently && code <= base.StatusUseProxy:
		r.fixLocation()
	}
}

func (r *responseFix) fixDescribe() {
	if !looksLikeSDP(r.body) {
		return
	}
	ct := r.m.gviews("Content-Type")
	if len(ct) != 1 || strings.Split(ct[0], ";")[0] != "application/sdp" {
		r.set("Content-Type", "application/sdp")
		r.qs.add(QContentType)
	}
	if body, qs := fixSDP(r.body); body != nil {
		r.body = body
		r.qs.add(qs...)
	}
	r.fixContentBase()
}

// looksLikeSDP tells an SDP body from an error page or nothing.
func looksLikeSDP(b []byte) bool {
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	b = bytes.TrimLeft(b, " \t\r\n\x00")
	return len(b) >= 2 && b[0] >= 'a' && b[0] <= 'z' && b[1] == '='
}

// serialize writes the repaired answer in the form gortsplib reads.
func (r *responseFix) serialize() []byte {
	if len(r.body) > 0 || len(r.m.gviews("Content-Length")) > 0 {
		r.set("Content-Length", strconv.Itoa(len(r.body)))
	}
	var b bytes.Buffer
	b.Grow(256 + len(r.body))
	b.WriteString("RTSP/1.0 ")
	b.WriteString(strconv.Itoa(r.m.code))
	if r.m.reason != "" {
		b.WriteByte(' ')
		b.WriteString(r.m.reason)
	}
	b.WriteString("\r\n")
	for _, f := range r.m.fields {
		b.WriteString(f.name)
		b.WriteString(": ")
		b.WriteString(f.value)
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	b.Write(r.body)
	return b.Bytes()
}
