//go:build !linux

package rtspserver

// UDP segmentation offload is Linux's: elsewhere every datagram is its own
// message.

const gsoSpace = 0

func putGSO([]byte, int) []byte { return nil }

func gsoRefused(error) bool { return false }

const gsoSupported = false

func gsoProbe(any) bool { return false }
