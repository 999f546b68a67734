package loadtest

import (
	"math"
	"testing"
	"time"
)

func TestHistogramBuckets(t *testing.T) {
	prev := -1
	for _, us := range []uint64{0, 1, 127, 128, 129, 255, 256, 1000, 1 << 20, 1 << 40, 1 << 50} {
		i := histBucket(us)
		if i < prev || i >= histBuckets {
			t.Fatalf("bucket of %d: %d (previous %d)", us, i, prev)
		}
		prev = i
		low, width := histBucketRange(i)
		if us < 1<<41 && (us < low || us >= low+width) {
			t.Fatalf("%d µs in bucket %d [%d, %d)", us, i, low, low+width)
		}
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var a, b Histogram
	for i := 1; i <= 1000; i++ {
		h := &a
		if i%2 == 0 {
			h = &b
		}
		h.Record(time.Duration(i) * 10 * time.Microsecond) // 10 µs .. 10 ms
	}
	a.Merge(&b)
	if a.Count() != 1000 || a.Max() != 10*time.Millisecond {
		t.Fatalf("count %d max %v", a.Count(), a.Max())
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 5 * time.Millisecond}, {0.99, 9900 * time.Microsecond}} {
		got := a.Quantile(tc.q)
		if rel := math.Abs(float64(got-tc.want)) / float64(tc.want); rel > 0.02 {
			t.Fatalf("q%.2f: got %v want %v", tc.q, got, tc.want)
		}
	}
	var empty Histogram
	if empty.Quantile(0.5) != 0 {
		t.Fatal("empty histogram")
	}
}
