package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/rtspgate/rtspgate/internal/stream/codecfilter"
)

// decoder applies one file's YAML nodes to a Config.
type decoder struct {
	file   string
	getenv func(string) (string, bool)
	cfg    *Config
	at     places
}

// places records where some keys were last set, for checks made once all
// files are read ("rtsp.username" -> file and line).
type places map[string]place

type place struct {
	file string
	line int
}

// apply parses data (one YAML document) and applies its keys on top of cfg,
// recording in at where the keys checkAll looks at were set.
func apply(cfg *Config, at places, file string, data []byte, getenv func(string) (string, bool)) error {
	if getenv == nil {
		getenv = os.LookupEnv
	}
	d := &decoder{file: file, getenv: getenv, cfg: cfg, at: at}

	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // empty file
		}
		return d.syntaxError(err, data)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return d.syntaxError(err, data)
	case !isEmpty(&extra):
		return &Error{File: file, Line: extra.Line, Msg: "a config file holds one YAML document; remove the second '---'"}
	}
	return d.root(&doc)
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError turns "yaml: line 3: msg" into "FILE:3: YAML syntax: msg".
func (d *decoder) syntaxError(err error, data []byte) error {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		msg = "YAML syntax: " + m[2]
		if lines := bytes.Split(data, []byte("\n")); line >= 1 && line <= len(lines) {
			text := lines[line-1]
			if indent := text[:len(text)-len(bytes.TrimLeft(text, " \t"))]; bytes.IndexByte(indent, '\t') >= 0 {
				msg += " (indent with spaces, not tabs)"
			}
		}
		return &Error{File: d.file, Line: line, Msg: msg}
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	return &Error{File: d.file, Msg: "YAML syntax: " + msg}
}

func (d *decoder) errorf(n *yaml.Node, key, format string, args ...any) *Error {
	return &Error{File: d.file, Line: n.Line, Key: key, Msg: fmt.Sprintf(format, args...)}
}

// resolve follows aliases (*name) to the anchored node.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; i < 100 && n.Kind == yaml.AliasNode && n.Alias != nil; i++ {
		n = n.Alias
	}
	return n
}

// isEmpty reports whether n is nothing: an empty document, "~" or "null".
func isEmpty(n *yaml.Node) bool {
	n = resolve(n)
	switch n.Kind {
	case 0:
		return true
	case yaml.DocumentNode:
		return len(n.Content) == 0 || isEmpty(n.Content[0])
	case yaml.ScalarNode:
		return n.ShortTag() == "!!null"
	}
	return false
}

// describe names the kind of a node for "want X, got Y" messages.
func describe(n *yaml.Node) string {
	n = resolve(n)
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "nothing"
		case "!!int", "!!float":
			return "a number"
		case "!!bool":
			return "true/false"
		case "!!timestamp":
			return "a date"
		}
		return "a string"
	}
	return "something else"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// each calls fn for every key of the mapping n (at path), in order. It
// rejects keys that are not plain scalars and keys given twice.
func (d *decoder) each(n *yaml.Node, path string, fn func(key string, k, v *yaml.Node) error) error {
	n = resolve(n)
	if isEmpty(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return d.errorf(n, path, "want a mapping of keys to values, got %s", describe(n))
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return d.errorf(k, path, "a key must be a plain word, got %s", describe(k))
		}
		key := k.Value
		if first, dup := seen[key]; dup {
			return d.errorf(k, join(path, key), "given twice, at lines %d and %d", first, k.Line)
		}
		seen[key] = k.Line
		if err := fn(key, k, v); err != nil {
			return err
		}
	}
	return nil
}

// str reads a scalar as a string, ${VAR}-expanded. Numbers and booleans are
// taken as written (password: 12345678); nothing ("key:" or "~") is "".
func (d *decoder) str(n *yaml.Node, key string) (string, error) {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode {
		return "", d.errorf(n, key, "want a string, got %s", describe(n))
	}
	if n.ShortTag() == "!!null" {
		return "", nil
	}
	v, missing := expand(n.Value, d.getenv)
	if missing != "" {
		return "", d.errorf(n, key, "environment variable %s is not set (write ${%s:default} to give a default)", missing, missing)
	}
	return v, nil
}

// off reads a yes/no switch and reports whether it is off.
func (d *decoder) off(n *yaml.Node, key string) (bool, error) {
	var on bool
	if n.Kind != yaml.ScalarNode || n.Decode(&on) != nil {
		return false, d.errorf(n, key, "want true or false, got %q", n.Value)
	}
	return !on, nil
}

func (d *decoder) listen(n *yaml.Node, key string) (string, error) {
	v, err := d.str(n, key)
	if err != nil || v == "" {
		return v, err
	}
	_, port, err := net.SplitHostPort(v)
	if err == nil {
		_, err = strconv.ParseUint(port, 10, 16)
	}
	if err != nil {
		msg := fmt.Sprintf("want host:port or :port with a port from 0 to 65535, got %q", v)
		if _, e := strconv.ParseUint(v, 10, 16); e == nil {
			msg += fmt.Sprintf(" (did you mean \":%s\"?)", v)
		}
		return "", d.errorf(n, key, "%s", msg)
	}
	return v, nil
}

func (d *decoder) root(doc *yaml.Node) error {
	if isEmpty(doc) {
		return nil
	}
	top := resolve(doc.Content[0])
	if top.Kind != yaml.MappingNode {
		return d.errorf(top, "", "the file must be a mapping of sections (streams:, rtsp:, api:, log:, ffmpeg:), got %s", describe(top))
	}
	return d.each(top, "", func(key string, k, v *yaml.Node) error {
		switch key {
		case "streams":
			return d.streams(v)
		case "rtsp":
			return d.rtsp(v)
		case "api":
			return d.api(v)
		case "log":
			return d.log(v)
		case "ffmpeg":
			return d.ffmpeg(v)
		default:
			// A section of the original product (webrtc, hass, …) is
			// accepted and its keys checked, but its values are not read
			// (so no ${VAR} in it is needed); any other key is an error.
			return d.other(topKeys, "", key, k, v)
		}
	})
}

func (d *decoder) streams(n *yaml.Node) error {
	var list []Stream
	err := d.each(n, "streams", func(name string, k, v *yaml.Node) error {
		if k.ShortTag() == "!!null" {
			name = ""
		}
		if err := CheckStreamName(name); err != nil {
			return d.errorf(k, "streams", "%v", err)
		}
		key := "streams." + name // each has already refused a name given twice
		s := Stream{Name: name, File: d.file, Line: k.Line}
		var items []*yaml.Node
		switch rv := resolve(v); {
		case isEmpty(rv):
		case rv.Kind == yaml.SequenceNode:
			items = rv.Content
		case rv.Kind == yaml.ScalarNode && rv.ShortTag() == "!!str":
			// name: "" (or a ${VAR} that is empty) -> no sources
			if raw, err := d.str(rv, key); err != nil || strings.TrimSpace(raw) != "" {
				items = []*yaml.Node{rv}
			}
		default:
			return d.errorf(rv, key, "want a source string, a list of them, or nothing, got %s", describe(rv))
		}
		for _, item := range items {
			ri := resolve(item)
			if ri.Kind != yaml.ScalarNode || ri.ShortTag() != "!!str" {
				return d.errorf(ri, key, "want a source string in the list, got %s", describe(ri))
			}
			raw, err := d.str(ri, key)
			if err != nil {
				return err
			}
			src, err := ParseSource(raw)
			if err != nil {
				return d.errorf(ri, key, "%v", err)
			}
			src.File, src.Line = d.file, ri.Line
			s.Sources = append(s.Sources, src)
		}
		list = append(list, s)
		return nil
	})
	if err != nil {
		return err
	}
	for _, s := range list {
		if i := slices.IndexFunc(d.cfg.Streams, func(o Stream) bool { return o.Name == s.Name }); i >= 0 {
			d.cfg.Streams[i] = s
		} else {
			d.cfg.Streams = append(d.cfg.Streams, s)
		}
	}
	return nil
}

func (d *decoder) rtsp(n *yaml.Node) error {
	c := &d.cfg.RTSP
	return d.each(n, "rtsp", func(key string, k, v *yaml.Node) error {
		path := "rtsp." + key
		var err error
		switch key {
		case "listen":
			c.Listen, err = d.listen(v, path)
		case "username":
			d.setAt(path, k)
			c.Username, err = d.str(v, path)
		case "password":
			d.setAt(path, k)
			c.Password, err = d.str(v, path)
		case "default_query":
			if c.DefaultQuery, err = d.str(v, path); err == nil && c.DefaultQuery != "" {
				err = d.checkQuery(v, path, c.DefaultQuery)
			}
		case "gop_cache":
			c.NoGOPCache, err = d.off(v, path)
		case "pkt_size":
			c.PktSize, err = d.pktSize(v, path)
		case "rtp_address":
			d.setAt(path, k)
			c.RTPAddress, err = d.listen(v, path)
		case "rtcp_address":
			d.setAt(path, k)
			c.RTCPAddress, err = d.listen(v, path)
		default:
			return d.other(rtspKeys, "rtsp", key, k, v)
		}
		return err
	})
}

// pktSize reads a packet size in bytes, 1 to 65535; empty is 0 (unset).
func (d *decoder) pktSize(n *yaml.Node, key string) (int, error) {
	s, err := d.str(n, key)
	if err != nil || s == "" {
		return 0, err
	}
	size, err := strconv.Atoi(s)
	switch {
	case err != nil:
		return 0, d.errorf(n, key, "want a whole number, got %q", s)
	case size < 1 || size > 65535:
		return 0, d.errorf(n, key, "want a number of bytes from 1 to 65535, got %d", size)
	}
	return size, nil
}

func (d *decoder) api(n *yaml.Node) error {
	c := &d.cfg.API
	return d.each(n, "api", func(key string, k, v *yaml.Node) error {
		path := "api." + key
		var err error
		switch key {
		case "listen":
			c.Listen, err = d.listen(v, path)
		case "username":
			d.setAt(path, k)
			c.Username, err = d.str(v, path)
		case "password":
			d.setAt(path, k)
			c.Password, err = d.str(v, path)
		default:
			// local_auth, origin, tls_*, … are go2rtc's: accepted, unused
			return d.other(apiKeys, "api", key, k, v)
		}
		return err
	})
}

func (d *decoder) log(n *yaml.Node) error {
	return d.each(n, "log", func(key string, k, v *yaml.Node) error {
		path := "log." + key
		if key != "level" {
			// format, output, time, per-module levels (log: rtsp: debug)
			return d.other(logKeys, "log", key, k, v)
		}
		s, err := d.str(v, path)
		if err != nil {
			return err
		}
		s = strings.ToLower(s)
		if !slices.Contains([]string{"trace", "debug", "info", "warn", "error"}, s) {
			return d.errorf(v, path, "want trace, debug, info, warn or error, got %q", s)
		}
		d.cfg.Log.Level = s
		return nil
	})
}

func (d *decoder) ffmpeg(n *yaml.Node) error {
	c := &d.cfg.FFmpeg
	return d.each(n, "ffmpeg", func(key string, _, v *yaml.Node) error {
		path := "ffmpeg." + key
		s, err := d.str(v, path)
		if err != nil {
			return err
		}
		if key == "bin" { // talking from a file or URL runs it
			if s == "" {
				return d.errorf(resolve(v), path, "want the ffmpeg program (name or path), got nothing")
			}
			c.Bin = s
			return nil
		}
		c.Templates[key] = s // ffmpeg sources and talking from a file use them
		return nil
	})
}

// setAt records that the key at path is set by the key node k.
func (d *decoder) setAt(path string, k *yaml.Node) {
	d.at[path] = place{file: d.file, line: k.Line}
}

// checkQuery checks a codec filter query (rtsp.default_query) by the rules
// readers' queries are read with.
func (d *decoder) checkQuery(v *yaml.Node, path, q string) error {
	err := codecfilter.Check(q)
	if err == nil {
		return nil
	}
	const hint = "; a codec filter takes video, audio and mp4, e.g. video&audio, video=h264,h265&audio=all or mp4"
	var uk *codecfilter.UnknownKeyError
	var ee url.EscapeError
	switch {
	case errors.As(err, &uk):
		msg := fmt.Sprintf("%q: unknown key %q", q, uk.Key)
		if near, ok := suggest(uk.Key, codecfilter.Keys()); ok {
			msg += fmt.Sprintf(" (did you mean %s?)", near)
		}
		return d.errorf(resolve(v), path, "%s%s", msg, hint)
	case errors.As(err, &ee):
		return d.errorf(resolve(v), path, "%q: %v (write '%%' as %%25)", q, err)
	}
	return d.errorf(resolve(v), path, "%q %v", q, err)
}

// checkPairs checks, once every file is read, that each of rtsp and api has
// both a username and a password or neither. The error names where the key
// to fix was set and never shows the password.
func checkPairs(cfg *Config, at places) error {
	for _, p := range []struct {
		section, user, pass string
	}{
		{"rtsp", cfg.RTSP.Username, cfg.RTSP.Password},
		{"api", cfg.API.Username, cfg.API.Password},
	} {
		if (p.user == "") == (p.pass == "") {
			continue
		}
		set, unset := p.section+".username", p.section+".password"
		if p.user == "" {
			set, unset = unset, set
		}
		// point at the empty key if it was written, else at the one given
		key, msg := set, "is set but "+unset+" is not"
		if _, ok := at[unset]; ok {
			key, msg = unset, "is empty but "+set+" is set"
		}
		where := at[key]
		return &Error{File: where.file, Line: where.line, Key: key,
			Msg: msg + ": give both, or neither to turn authentication off"}
	}
	return nil
}
