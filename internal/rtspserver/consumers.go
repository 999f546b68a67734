package rtspserver

import (
	"slices"
	"strings"
	"time"

	"github.com/rtspgate/rtspgate/internal/stream"
)

// ConsumerInfo describes one reader for the API and metrics.
type ConsumerInfo struct {
	RemoteAddr string
	Protocol   string // "rtsp+tcp" or "rtsp+udp"
	Since      time.Time
	// media written to it so far
	BytesSent, PacketsSent uint64
}

// addConsumer lists sess among its stream's readers once it plays.
func (s *Server) addConsumer(sess *session) {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	if s.consumers == nil {
		s.consumers = map[*stream.Stream]map[*session]struct{}{}
	}
	set := s.consumers[sess.ms.st]
	if set == nil {
		set = map[*session]struct{}{}
		s.consumers[sess.ms.st] = set
	}
	set[sess] = struct{}{}
}

func (s *Server) removeConsumer(sess *session) {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	if set := s.consumers[sess.ms.st]; set != nil {
		delete(set, sess)
		if len(set) == 0 {
			delete(s.consumers, sess.ms.st)
		}
	}
}

// Consumers lists the readers of st, oldest first.
func (s *Server) Consumers(st *stream.Stream) []ConsumerInfo {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	var out []ConsumerInfo
	for sess := range s.consumers[st] {
		out = append(out, ConsumerInfo{
			RemoteAddr:  sess.peer,
			Protocol:    "rtsp+" + strings.ToLower(sess.tr),
			Since:       sess.since,
			BytesSent:   sess.sent.bytes.Load(),
			PacketsSent: sess.sent.packets.Load(),
		})
	}
	slices.SortFunc(out, func(a, b ConsumerInfo) int { return a.Since.Compare(b.Since) })
	return out
}
