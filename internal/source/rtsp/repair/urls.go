package repair

import (
	"net"
	"net/url"
	"strings"

	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/sdpunmarshaler"
)

func urlOK(s string) bool {
	_, err := base.ParseURL(s)
	return err == nil
}

// fixURL turns a URL gortsplib cannot parse into one it can: spaces or
// quotes around it, an IPv6 host without brackets, a host without scheme, or
// a relative reference (resolved against ref, which may be nil).
func fixURL(raw string, ref *base.URL) (string, bool) {
	s := strings.Trim(strings.TrimSpace(raw), `"<>`)
	if urlOK(s) {
		return s, true
	}
	scheme, rest, found := strings.Cut(s, "://")
	if !found {
		host, _, _ := strings.Cut(s, "/")
		if looksLikeHost(host) {
			return fixURL("rtsp://"+s, nil)
		}
		if ref == nil || s == "" {
			return "", false
		}
		rel, err := url.Parse(s)
		if err != nil {
			return "", false
		}
		out := (*url.URL)(ref).ResolveReference(rel).String()
		return out, urlOK(out)
	}

	host, path, _ := strings.Cut(rest, "/")
	if strings.Count(host, ":") >= 2 && !strings.ContainsAny(host, "[@") {
		if net.ParseIP(host) != nil {
			host = "[" + host + "]"
		} else if i := strings.LastIndexByte(host, ':'); net.ParseIP(host[:i]) != nil {
			host = "[" + host[:i] + "]" + host[i:]
		}
	}
	out := scheme + "://" + host + "/" + path
	return out, urlOK(out)
}

// looksLikeHost tells "192.168.1.10:554" or "cam:554" (a host) from "live"
// or "stream.sdp" (a path).
func looksLikeHost(h string) bool {
	if net.ParseIP(h) != nil {
		return true
	}
	host, port, err := net.SplitHostPort(h)
	if err != nil || host == "" || port == "" {
		return false
	}
	_, rest := leadingDigits(port)
	return rest == ""
}

// contentBaseOK mirrors how gortsplib's client reads a Content-Base.
func contentBaseOK(v string, req *base.URL) bool {
	if strings.HasPrefix(v, "/") {
		return req != nil && urlOK(req.Scheme+"://"+req.Host+v)
	}
	return urlOK(v)
}

func (r *responseFix) fixContentBase() {
	if sd, err := sdpunmarshaler.Unmarshal(r.body); err != nil {
		return // gortsplib fails on the SDP anyway
	} else if ctl, ok := sd.Attribute("control"); ok && ctl != "*" {
		return // the session's control URL wins over Content-Base
	}
	cbs := r.m.gviews("Content-Base")
	if len(cbs) == 0 || (len(cbs) == 1 && contentBaseOK(cbs[0], r.req.url)) {
		return
	}
	r.qs.add(QContentBase)
	for _, v := range cbs {
		if contentBaseOK(v, r.req.url) {
			r.set("Content-Base", v)
			return
		}
	}
	for _, v := range cbs {
		if f, ok := fixURL(v, r.req.url); ok {
			r.set("Content-Base", f)
			return
		}
	}
	// without it gortsplib uses the URL it asked for, the usual fallback
	r.del("Content-Base")
}

func (r *responseFix) fixLocation() {
	ls := r.m.gviews("Location")
	if len(ls) != 1 || urlOK(ls[0]) {
		return
	}
	if f, ok := fixURL(ls[0], r.req.url); ok {
		r.set("Location", f)
		r.qs.add(QLocation)
	}
}
