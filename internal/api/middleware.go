package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/rtspgate/rtspgate/internal/redact"
)

// routes builds the handler: the guards, outermost first, then the mux.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/api/streams", s.handleStreams)
	mux.Handle("/metrics", s.metricsHandler())
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such API endpoint")
	})
	s.pages(mux)

	// Cross-site POSTs (a web page the user visits playing audio into a
	// camera) are refused: a browser sends Sec-Fetch-Site or Origin, and
	// neither may name another site. Clients that are not browsers send
	// neither and pass.
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.log.Info("cross-site request refused", "method", r.Method, "path", r.URL.Path, "origin", r.Header.Get("Origin"), "remote", r.RemoteAddr)
		writeError(w, http.StatusForbidden, "cross-site request refused: call the API from its own pages or from a program")
	}))

	var h http.Handler = cop.Handler(mux)
	h = s.auth(h)
	h = limitBody(h)
	h = headers(h)
	h = s.recoverPanic(h)
	h = s.accessLog(h)
	return h
}

// headers sets what every answer carries: no sniffing, no framing by other
// sites, no referrer (stream names are in our URLs).
func headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

// limitBody bounds every request body: nothing here takes more than a few
// bytes, so a big upload is refused instead of read.
func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > maxBodyBytes {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over %d bytes", maxBodyBytes))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		next.ServeHTTP(w, r)
	})
}

// auth asks for HTTP Basic credentials, when they are configured, of every
// client that is not on loopback; loopback clients are let in as the RTSP
// server lets them in.
func (s *Server) auth(next http.Handler) http.Handler {
	if s.cfg.Username == "" && s.cfg.Password == "" {
		return next
	}
	// Comparing hashes keeps the comparison's time independent of where
	// the strings differ and of their lengths.
	wantUser, wantPass := sha256.Sum256([]byte(s.cfg.Username)), sha256.Sum256([]byte(s.cfg.Password))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isLoopbackRemote(r.RemoteAddr) {
			next.ServeHTTP(w, r)
			return
		}
		user, pass, ok := r.BasicAuth()
		if ok {
			u, p := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(pass))
			// both compared, always: no early exit telling which was wrong
			good := subtle.ConstantTimeCompare(u[:], wantUser[:]) & subtle.ConstantTimeCompare(p[:], wantPass[:])
			if good == 1 {
				next.ServeHTTP(w, r)
				return
			}
			// the user name is not logged: people type passwords into it
			s.log.Info("HTTP API login failed", "remote", r.RemoteAddr, "path", r.URL.Path)
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="rtspgate", charset="UTF-8"`)
		writeError(w, http.StatusUnauthorized, "authentication required")
	})
}

// isLoopbackRemote reports whether r.RemoteAddr ("host:port") is on this
// machine: 127.0.0.0/8, ::1, or either written as an IPv4-mapped address.
func isLoopbackRemote(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// recoverPanic turns a panic in a handler into a logged error and a 500,
// instead of a dropped connection with nothing said.
func (s *Server) recoverPanic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if p == http.ErrAbortHandler {
				panic(p) // net/http's way to abort a response on purpose
			}
			s.log.Error("panic in an HTTP handler", "method", r.Method, "path", r.URL.Path,
				"panic", redact.Text(fmt.Sprint(p)), "stack", string(debug.Stack()))
			if rec.status != 0 {
				// the answer has begun: cutting the connection is all that is left
				panic(http.ErrAbortHandler)
			}
			writeError(w, http.StatusInternalServerError, "internal error")
		}()
		next.ServeHTTP(rec, r)
	})
}

// accessLog logs each request at debug: method, path (never the query: a
// source in it may hold a password), status and time taken.
func (s *Server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		s.log.Debug("HTTP request", "method", r.Method, "path", r.URL.Path, "status", status,
			"took", time.Since(start).Round(time.Millisecond), "remote", r.RemoteAddr)
	})
}

// statusRecorder remembers the status written, to log it and to know
// whether an answer has begun.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }
