package config

import (
	"strconv"
	"strings"
)

// Error is a problem found in a config file. It prints as
// "FILE:LINE: KEY: what is wrong" on one line and never holds a credential.
type Error struct {
	File string // the file name given to Load or Parse
	Line int    // 1-based; 0 if unknown
	Key  string // dotted path such as "rtsp.pkt_size" or "streams.cam"; "" if none
	Msg  string // what is wrong
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}
