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

// pages registers the web pages on mux: "/" and "/stream.html" are the
// stream page (it asks for a name when the URL has no ?src=).
func (s *Server) pages(mux *http.ServeMux) {
	for _, p := range []struct{ pattern, file, ctype string }{
		{"GET /{$}", "stream.html", "text/html; charset=utf-8"},
		{"GET /stream.html", "stream.html", "text/html; charset=utf-8"},
		{"GET /stream.js", "stream.js", "text/javascript; charset=utf-8"},
		{"GET /style.css", "style.css", "text/css; charset=utf-8"},
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
