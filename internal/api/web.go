package api

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"net/http"
	"path"
	"time"
)

// web holds the pages, written by hand: no build step, no outside scripts.
//
//go:embed web
var web embed.FS

// pageCSP lets the pages load only their own script, style and API.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// pages registers the web pages on mux: "/" is the stream list,
// "/stream.html?src=NAME" a stream's page (it asks for a name without
// src), and /api/talk the WebSocket of its talk button (talkws.go).
func (s *Server) pages(mux *http.ServeMux) {
	mux.HandleFunc("/api/talk", s.handleTalk)
	const html, js, css = "text/html; charset=utf-8", "text/javascript; charset=utf-8", "text/css; charset=utf-8"
	for _, p := range []struct{ pattern, file, ctype string }{
		{"GET /{$}", "index.html", html},
		{"GET /index.html", "index.html", html},
		{"GET /stream.html", "stream.html", html},
		{"GET /common.js", "common.js", js},
		{"GET /list.js", "list.js", js},
		{"GET /stream.js", "stream.js", js},
		{"GET /talk.js", "talk.js", js},
		{"GET /talk-worklet.js", "talk-worklet.js", js},
		{"GET /style.css", "style.css", css},
	} {
		b, err := web.ReadFile(path.Join("web", p.file))
		if err != nil {
			panic("api: embedded page missing: " + p.file) // a build mistake, caught by every test
		}
		sum := sha256.Sum256(b)
		etag := `"` + hex.EncodeToString(sum[:8]) + `"`
		mux.HandleFunc(p.pattern, func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Set("Content-Type", p.ctype)
			h.Set("Content-Security-Policy", pageCSP)
			// revalidated each time, so an upgrade shows at once
			h.Set("Cache-Control", "no-cache")
			h.Set("ETag", etag)
			http.ServeContent(w, r, p.file, time.Time{}, bytes.NewReader(b))
		})
	}
}
