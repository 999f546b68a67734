package stream

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
)

// PrivatePrefix starts the path of private ingest targets: a child process
// of ours (ffmpeg) publishes there over loopback RTSP, and what it sends
// goes straight to the source that started it. They are not streams: no
// reader finds them, and only loopback clients may publish to them.
const PrivatePrefix = "_private/"

// Private registers pub as the target of a private ingest path and returns
// the path (PrivatePrefix + 32 random hex digits). Call release when done.
func (r *Registry) Private(pub Publisher) (path string, release func()) {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	path = PrivatePrefix + hex.EncodeToString(b)
	r.mu.Lock()
	if r.private == nil {
		r.private = map[string]Publisher{}
	}
	r.private[path] = pub
	r.mu.Unlock()
	return path, func() {
		r.mu.Lock()
		delete(r.private, path)
		r.mu.Unlock()
	}
}

// PrivateTarget returns the publisher of a private ingest path, or nil.
func (r *Registry) PrivateTarget(path string) Publisher {
	if !IsPrivate(path) {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.private[path]
}

// IsPrivate reports whether a stream path names a private ingest target.
func IsPrivate(path string) bool { return strings.HasPrefix(path, PrivatePrefix) }
