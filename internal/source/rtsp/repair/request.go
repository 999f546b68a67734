package repair

import (
	"bufio"
	"bytes"
	"strings"
	"sync"

	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/headers"
)

// request is what we remember of one of our requests, to repair its answer.
type request struct {
	cseq      string
	method    base.Method
	url       *base.URL          // as written, without credentials
	transport *headers.Transport // SETUP only
}

const (
	maxPending = 32 // unanswered requests kept (keepalives may stay unanswered)
	maxSent    = 64 // CSeqs remembered to recognise late or repeated answers
)

// tracker matches answers to our requests. Write adds, Read takes.
type tracker struct {
	mu      sync.Mutex
	pending []request
	sent    []string
}

func (t *tracker) add(r request) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.pending) == maxPending {
		t.pending = append(t.pending[:0], t.pending[1:]...)
	}
	t.pending = append(t.pending, r)
	if len(t.sent) == maxSent {
		t.sent = append(t.sent[:0], t.sent[1:]...)
	}
	t.sent = append(t.sent, r.cseq)
}

// match finds the request an answer belongs to. cseqs are the answer's CSeq
// values as gortsplib reads them. rewrite is set when the answer carries a
// CSeq gortsplib would not match although it can only answer that request.
func (t *tracker) match(cseqs []string) (req *request, rewrite string) {
	t.mu.Lock()
	defer t.mu.Unlock()

	take := func(i int) *request {
		r := t.pending[i]
		// answers come in order: older requests will not get theirs
		t.pending = append(t.pending[:0], t.pending[i+1:]...)
		return &r
	}

	if len(cseqs) != 1 {
		// gortsplib takes such an answer for whatever it waits for
		if len(t.pending) > 0 {
			return take(0), ""
		}
		return nil, ""
	}

	v := strings.TrimSpace(cseqs[0])
	for i := range t.pending {
		if t.pending[i].cseq == v {
			return take(i), ""
		}
	}
	for _, s := range t.sent {
		if s == v {
			return nil, "" // late or repeated answer: gortsplib ignores it
		}
	}
	if len(t.pending) == 0 {
		return nil, ""
	}
	if d, _ := leadingDigits(v); d != "" {
		for i := range t.pending {
			if t.pending[i].cseq == d {
				return take(i), d
			}
		}
	}
	r := take(0)
	return r, r.cseq
}

// writeTracker parses what we write: our requests (remembered), our answers
// to the camera's requests and interleaved RTCP frames (skipped).
type writeTracker struct {
	frame frameScanner
	buf   []byte      // a message split over writes
	head  headScanner // progress on buf
	off   bool        // stopped understanding our own output
}

func (w *writeTracker) observe(p []byte, t *tracker) {
	for !w.off && len(p) > 0 {
		if len(w.buf) == 0 {
			p = p[w.frame.skip(p):]
			if len(p) == 0 {
				return
			}
			w.head = headScanner{}
			n, ok := w.message(p, t)
			if !ok {
				w.hold(p)
				return
			}
			p = p[n:]
			continue
		}
		w.hold(p)
		n, ok := w.message(w.buf, t)
		if !ok {
			return
		}
		// the rest only holds bytes of p, which we go on with
		p = w.buf[n:]
		w.buf = nil
	}
}

func (w *writeTracker) hold(p []byte) {
	if w.off {
		return
	}
	if len(w.buf)+len(p) > maxHead+maxBody {
		w.off, w.buf = true, nil
		return
	}
	w.buf = append(w.buf, p...)
}

// message takes one text message from the start of b. It reports false when
// b holds only part of it.
func (w *writeTracker) message(b []byte, t *tracker) (int, bool) {
	end, ok := w.head.find(b)
	if !ok {
		if len(b) > maxHead {
			w.off = true
		}
		return 0, false
	}
	n := end + parseHead(b[:end], false).bodyLen
	if len(b) < n {
		return 0, false
	}
	if bytes.HasPrefix(b, []byte("RTSP/")) {
		return n, true // our answer to a request of the camera
	}
	var req base.Request
	if req.Unmarshal(bufio.NewReader(bytes.NewReader(b[:n]))) != nil {
		return n, true
	}
	r := request{method: req.Method, url: req.URL}
	if v := req.Header["CSeq"]; len(v) == 1 {
		r.cseq = strings.TrimSpace(v[0])
	}
	if req.Method == base.Setup {
		var th headers.Transport
		if th.Unmarshal(req.Header["Transport"]) == nil {
			r.transport = &th
		}
	}
	if r.cseq != "" {
		t.add(r)
	}
	return n, true
}
