package loadtest

import (
	"math/bits"
	"time"
)

// Histogram records durations in microseconds with a relative resolution of
// 1/64 (values below 128 µs are exact). It is not safe for concurrent use;
// every reader keeps its own and they are merged at the end.
type Histogram struct {
	counts []uint32
	total  uint64
	max    time.Duration
}

const (
	histLinear  = 128 // values below are stored exactly
	histSubBits = 6   // 64 sub-buckets per power of two above
	histMaxExp  = 34  // values up to 2^41 µs (about 25 days)
	histBuckets = histLinear + histMaxExp*(1<<histSubBits)
)

func histBucket(us uint64) int {
	if us < histLinear {
		return int(us)
	}
	e := bits.Len64(us) - (histSubBits + 1)
	if e > histMaxExp {
		return histBuckets - 1
	}
	return histLinear + (e-1)<<histSubBits + int(us>>e) - 1<<histSubBits
}

// histBucketRange returns the smallest value of a bucket and its width.
func histBucketRange(i int) (uint64, uint64) {
	if i < histLinear {
		return uint64(i), 1
	}
	e := (i-histLinear)>>histSubBits + 1
	m := uint64((i-histLinear)&(1<<histSubBits-1) + 1<<histSubBits)
	return m << e, 1 << e
}

// Record adds one value; negative values count as 0.
func (h *Histogram) Record(d time.Duration) {
	if h.counts == nil {
		h.counts = make([]uint32, histBuckets)
	}
	d = max(d, 0)
	h.counts[histBucket(uint64(d/time.Microsecond))]++
	h.total++
	h.max = max(h.max, d)
}

// Merge adds the values of o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.total == 0 {
		return
	}
	if h.counts == nil {
		h.counts = make([]uint32, histBuckets)
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
	h.max = max(h.max, o.max)
}

// Count is the number of recorded values.
func (h *Histogram) Count() uint64 { return h.total }

// Max is the largest recorded value, exact.
func (h *Histogram) Max() time.Duration { return h.max }

// Quantile returns the value below which a fraction q of the values lie
// (middle of the bucket, never above Max), 0 if nothing was recorded.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := uint64(q*float64(h.total) + 0.5)
	rank = min(max(rank, 1), h.total)
	var seen uint64
	for i, c := range h.counts {
		seen += uint64(c)
		if seen >= rank {
			low, width := histBucketRange(i)
			v := time.Duration(low)*time.Microsecond + time.Duration(width)*time.Microsecond/2
			return min(v, h.max)
		}
	}
	return h.max
}
