package rtspserver

import (
	"encoding/binary"
	"errors"
	"unsafe"

	"golang.org/x/sys/unix"
)

// gsoSpace is the size of a UDP_SEGMENT control message.
var gsoSpace = unix.CmsgSpace(2)

// putGSO writes into b (gsoSpace bytes, reused) the control message that
// asks Linux to cut one send into datagrams of size bytes (UDP segmentation
// offload, UDP_SEGMENT, Linux 4.18 and later): the IP stack is crossed once
// per run of datagrams, not once per datagram, and the device or the
// kernel cuts the run at the end.
func putGSO(b []byte, size int) []byte {
	b = b[:gsoSpace]
	clear(b)
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level = unix.IPPROTO_UDP
	h.Type = unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	binary.NativeEndian.PutUint16(b[unix.CmsgLen(0):], uint16(size))
	return b
}

// gsoRefused tells an error of a send that asked for segmentation apart:
// a kernel without UDP_SEGMENT (EINVAL, ENOPROTOOPT), or a route whose
// device cannot checksum the segments (EIO).
func gsoRefused(err error) bool {
	return errors.Is(err, unix.EIO) || errors.Is(err, unix.EINVAL) ||
		errors.Is(err, unix.ENOPROTOOPT) || errors.Is(err, unix.EOPNOTSUPP)
}

const gsoSupported = true
