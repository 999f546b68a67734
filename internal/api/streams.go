package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/rtspgate/rtspgate/internal/redact"
	"io"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"time"
)

// maxNameLen bounds a stream name in a query (names are URL path segments;
// a longer one cannot exist).
const maxNameLen = 256

// streamJSON is GET /api/streams?src=NAME: go2rtc's stream object
// (producers and consumers) with rtspgate's additions, see README.md.
type streamJSON struct {
	Name      string         `json:"name"`
	RTSPPort  int            `json:"rtsp_port,omitempty"`
	Producers []producerJSON `json:"producers"`
	Consumers []consumerJSON `json:"consumers"`
	// rtspgate's own
	BytesIn   uint64            `json:"bytes_in"`
	PacketsIn uint64            `json:"packets_in"`
	Drops     map[string]uint64 `json:"drops"`
}

type producerJSON struct {
	URL    string   `json:"url"`
	Medias []string `json:"medias,omitempty"`
	// rtspgate's own; go2rtc has no such fields
	State                  string     `json:"state,omitempty"`
	Since                  *time.Time `json:"since,omitempty"`
	LastError              string     `json:"last_error,omitempty"`
	Reconnects             int        `json:"reconnects"`
	Lost                   uint64     `json:"lost"`
	JitterMS               float64    `json:"jitter_ms"`
	Quirks                 []string   `json:"quirks"`
	BackchannelUnavailable string     `json:"backchannel_unavailable,omitempty"`
}

type consumerJSON struct {
	FormatName  string     `json:"format_name,omitempty"`
	Protocol    string     `json:"protocol,omitempty"`
	RemoteAddr  string     `json:"remote_addr,omitempty"`
	Since       *time.Time `json:"since,omitempty"`
	BytesSend   uint64     `json:"bytes_send"`
	PacketsSend uint64     `json:"packets_send"`
}

// timePtr leaves an unknown time out of the JSON.
func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// errorJSON is every error answer of /api/.
type errorJSON struct {
	Error string `json:"error"`
}

// mediaString writes a media as go2rtc does: "video, recvonly, H264",
// "audio, sendonly, PCMU/8000, PCMA/8000"; a codec is named once.
func mediaString(m Media) string {
	var b strings.Builder
	b.WriteString(m.Kind)
	b.WriteString(", ")
	b.WriteString(m.Direction)
	for i, c := range m.Codecs {
		dup := false
		for _, prev := range m.Codecs[:i] {
			dup = dup || prev == c
		}
		if !dup {
			b.WriteString(", ")
			b.WriteString(c)
		}
	}
	return b.String()
}

// toJSON turns a StreamInfo into its answer. Every string the backend gave
// is masked once more: a URL with a password must never reach a client.
func (s *Server) toJSON(name string, info *StreamInfo) streamJSON {
	out := streamJSON{Name: name, RTSPPort: s.cfg.RTSPPort, Producers: []producerJSON{}, Consumers: []consumerJSON{}, Drops: map[string]uint64{}}
	if info == nil {
		return out
	}
	out.BytesIn, out.PacketsIn = info.BytesIn, info.PacketsIn
	for k, v := range info.Drops {
		out.Drops[k] = v
	}
	if info.Name != "" {
		out.Name = info.Name
	}
	for _, p := range info.Producers {
		pj := producerJSON{
			URL:                    redact.Text(p.URL),
			State:                  p.State,
			Since:                  timePtr(p.Since),
			LastError:              redact.Text(p.LastError),
			Reconnects:             p.Reconnects,
			Lost:                   p.Lost,
			JitterMS:               p.JitterMS,
			Quirks:                 append([]string{}, p.Quirks...),
			BackchannelUnavailable: redact.Text(p.Backchannel),
		}
		for _, m := range p.Medias {
			pj.Medias = append(pj.Medias, mediaString(m))
		}
		out.Producers = append(out.Producers, pj)
	}
	for _, c := range info.Consumers {
		out.Consumers = append(out.Consumers, consumerJSON{
			FormatName: c.FormatName, Protocol: c.Protocol, RemoteAddr: c.RemoteAddr,
			Since: timePtr(c.Since), BytesSend: c.BytesSent, PacketsSend: c.PacketsSent,
		})
	}
	return out
}

// handleStreams serves /api/streams: GET probes a stream, POST plays a
// source into its backchannel.
func (s *Server) handleStreams(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		s.probe(w, r)
	case http.MethodPost:
		s.talk(w, r)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" is not allowed here; use GET or POST")
	}
}

// probe: GET /api/streams?src=NAME[&video=all&audio=all&microphone]. The
// media query of go2rtc is accepted and not needed: a probe always
// describes every track.
func (s *Server) probe(w http.ResponseWriter, r *http.Request) {
	if q, err := url.ParseQuery(r.URL.RawQuery); err == nil && !q.Has("src") {
		s.list(w, r)
		return
	}
	name, ok := streamParam(w, r, "src", "src= names the stream to describe")
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.callTimeout)
	defer cancel()
	info, err := call(ctx, func() (*StreamInfo, error) { return s.cfg.Backend.Probe(ctx, name) })
	if err != nil {
		s.backendError(w, r, "probe", name, err)
		return
	}
	writeJSON(w, http.StatusOK, s.toJSON(name, info))
}

// list: GET /api/streams, every stream keyed by name as go2rtc answers,
// without connecting anything.
func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.callTimeout)
	defer cancel()
	var infos []*StreamInfo
	_, err := call(ctx, func() (*StreamInfo, error) {
		var err error
		infos, err = s.cfg.Backend.List(ctx)
		return nil, err
	})
	if err != nil {
		s.backendError(w, r, "list", "", err)
		return
	}
	out := make(map[string]streamJSON, len(infos))
	for _, info := range infos {
		out[info.Name] = s.toJSON(info.Name, info)
	}
	writeJSON(w, http.StatusOK, out)
}

// talk: POST /api/streams?dst=NAME&src=SOURCE plays SOURCE into the
// backchannel of NAME; an empty or missing src stops what plays. The
// answer is the stream, as go2rtc answers.
func (s *Server) talk(w http.ResponseWriter, r *http.Request) {
	// Parameters come in the query; a body has no meaning here, but one
	// over the limit is refused rather than read on.
	if _, err := io.Copy(io.Discard, r.Body); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over %d bytes", mbe.Limit))
			return
		}
		writeError(w, http.StatusBadRequest, "cannot read the request body")
		return
	}
	name, ok := streamParam(w, r, "dst", "dst= names the stream whose backchannel plays src=")
	if !ok {
		return
	}
	q, _ := urlQuery(r) // streamParam has parsed it already
	src := strings.TrimSpace(q.Get("src"))
	ctx, cancel := context.WithTimeout(r.Context(), s.callTimeout)
	defer cancel()
	_, err := call(ctx, func() (struct{}, error) { return struct{}{}, s.cfg.Backend.Talk(ctx, name, src) })
	if err != nil {
		s.backendError(w, r, "talk", name, err)
		return
	}
	if src == "" {
		s.log.Info("backchannel stopped", "stream", name, "remote", r.RemoteAddr)
	} else {
		s.log.Info("backchannel playing", "stream", name, "source", redact.Text(src), "remote", r.RemoteAddr)
	}
	// Describing the stream after playback started is the answer go2rtc
	// gives; if that fails the playback still stands, so say so plainly.
	info, err := call(ctx, func() (*StreamInfo, error) { return s.cfg.Backend.Probe(ctx, name) })
	if err != nil {
		s.log.Debug("stream not described after talk", "stream", name, "err", redact.Text(err.Error()))
		writeJSON(w, http.StatusOK, s.toJSON(name, nil))
		return
	}
	writeJSON(w, http.StatusOK, s.toJSON(name, info))
}

// streamParam reads the stream name in query parameter key; it answers 400
// itself when it is missing or cannot be a name.
func streamParam(w http.ResponseWriter, r *http.Request, key, missing string) (string, bool) {
	q, err := urlQuery(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "the query cannot be read: "+err.Error())
		return "", false
	}
	name := q.Get(key)
	switch {
	case name == "":
		writeError(w, http.StatusBadRequest, missing)
		return "", false
	case len(name) > maxNameLen:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%s= is longer than %d bytes", key, maxNameLen))
		return "", false
	case strings.ContainsFunc(name, func(c rune) bool { return c < ' ' || c == 0x7f }):
		writeError(w, http.StatusBadRequest, key+"= holds a control character")
		return "", false
	}
	return name, true
}

// backendError answers a Backend error with its status: 404 unknown stream,
// 409 no backchannel, 400 a source that cannot play, 504 the camera did not
// answer in time, 500 anything else.
func (s *Server) backendError(w http.ResponseWriter, r *http.Request, op, name string, err error) {
	msg := redact.Text(err.Error())
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, ErrNoBackchannel):
		status = http.StatusConflict
	case errors.Is(err, ErrBadSource):
		status = http.StatusBadRequest
	case errors.Is(err, context.DeadlineExceeded):
		status = http.StatusGatewayTimeout
		msg = fmt.Sprintf("%s: no answer within %v", op, s.callTimeout)
	case errors.Is(err, context.Canceled):
		status = http.StatusServiceUnavailable // the client left, or the server is closing
	}
	var pe *panicError
	if errors.As(err, &pe) {
		s.log.Error("panic in the backend", "op", op, "stream", name, "panic", redact.Text(fmt.Sprint(pe.val)), "stack", string(pe.stack))
		writeError(w, http.StatusInternalServerError, "internal error")
		return
	}
	level := s.log.Debug
	if status >= 500 {
		level = s.log.Warn
	}
	level("API request failed", "op", op, "stream", name, "status", status, "err", msg, "remote", r.RemoteAddr)
	writeError(w, status, msg)
}

// panicError is what call returns when the backend panicked.
type panicError struct {
	val   any
	stack []byte
}

func (e *panicError) Error() string { return "internal error" }

// call runs fn and returns when it does or when ctx ends, whichever comes
// first, so that a backend ignoring ctx cannot hold a request beyond its
// bound (fn then finishes on its own). A panic in fn is returned as an
// error: the recover middleware cannot see another goroutine's panic.
func call[T any](ctx context.Context, fn func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1) // fn never blocks on a request that left
	go func() {
		defer func() {
			if p := recover(); p != nil {
				ch <- result{err: &panicError{val: p, stack: debug.Stack()}}
			}
		}()
		v, err := fn()
		ch <- result{v, err}
	}()
	select {
	case res := <-ch:
		return res.v, res.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// urlQuery parses the query, reporting what url.Query would drop silently.
func urlQuery(r *http.Request) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, errors.New("a malformed %-escape or ';' in the query")
	}
	return q, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error": "cannot encode the answer"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorJSON{Error: msg})
}
