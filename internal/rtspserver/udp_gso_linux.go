package rtspserver

import (
	"encoding/binary"
	"errors"
	"syscall"
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
// a route whose device cannot checksum the segments (EIO), or one whose MTU
// is smaller than a segment (EMSGSIZE, or EINVAL on some kernels). Sent one
// by one, such datagrams are cut into IP fragments instead.
func gsoRefused(err error) bool {
	return errors.Is(err, unix.EIO) || errors.Is(err, unix.EMSGSIZE) || errors.Is(err, unix.EINVAL) ||
		errors.Is(err, unix.ENOPROTOOPT) || errors.Is(err, unix.EOPNOTSUPP)
}

const gsoSupported = true

// gsoProbe tells whether the kernel knows UDP_SEGMENT, by reading the
// option from the socket: a kernel before 4.18 answers ENOPROTOOPT, and
// might otherwise send a segmented run as one big datagram.
func gsoProbe(c interface {
	SyscallConn() (syscall.RawConn, error)
}) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		_, serr = unix.GetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_SEGMENT)
	}); err != nil {
		return false
	}
	return serr == nil
}
