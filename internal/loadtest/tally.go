package loadtest

// ReaderFigures are what the readers of a measurement got over its window.
// Percentages are 0..100.
type ReaderFigures struct {
	ReadersConnected int     `json:"readers_connected"`
	ReadersDropped   int     `json:"readers_dropped"`
	FirstError       string  `json:"first_error,omitempty"`
	DeliveredMinPct  float64 `json:"delivered_min_pct"`
	DeliveredMeanPct float64 `json:"delivered_mean_pct"`
	ReadersFullPct   float64 `json:"readers_ge_99_5_pct"`
	SeqGaps          int64   `json:"seq_gaps"`
	MalformedPackets int64   `json:"malformed_packets"`
	LatencyP50Ms     float64 `json:"latency_p50_ms"`
	LatencyP99Ms     float64 `json:"latency_p99_ms"`
	LatencyMaxMs     float64 `json:"latency_max_ms"`
	LatencySamples   uint64  `json:"latency_samples"`
}

// readerTally sums reader results into ReaderFigures, the same way for
// every measurement.
type readerTally struct {
	f      ReaderFigures
	hist   Histogram
	sum    float64 // delivered ratios
	full   int     // readers at 99.5 % or more
	minSet bool
}

// add counts one reader (nil: it never started) against the frames
// first..last its camera or publisher sent in the window.
func (t *readerTally) add(rr *readerResult, first, last int) {
	if rr == nil {
		return
	}
	if rr.connected {
		t.f.ReadersConnected++
		if rr.err != nil {
			t.f.ReadersDropped++
		}
	}
	if rr.err != nil && t.f.FirstError == "" {
		t.f.FirstError = rr.err.Error()
	}
	t.hist.Merge(&rr.latency)
	t.f.SeqGaps += rr.gaps
	t.f.MalformedPackets += rr.malformed
	ratio := deliveredRatio(rr, first, last)
	t.sum += ratio
	if !t.minSet {
		t.f.DeliveredMinPct, t.minSet = 100, true
	}
	t.f.DeliveredMinPct = min(t.f.DeliveredMinPct, 100*ratio)
	if ratio >= 0.995 {
		t.full++
	}
}

// figures are the totals for readers readers (those that never started
// count as 0 % delivered in the mean).
func (t *readerTally) figures(readers int) ReaderFigures {
	f := t.f
	if !t.minSet {
		f.DeliveredMinPct = 100
	}
	if readers > 0 {
		f.DeliveredMeanPct = 100 * t.sum / float64(readers)
		f.ReadersFullPct = 100 * float64(t.full) / float64(readers)
	}
	f.LatencySamples = t.hist.Count()
	f.LatencyP50Ms = durationMs(t.hist.Quantile(0.50))
	f.LatencyP99Ms = durationMs(t.hist.Quantile(0.99))
	f.LatencyMaxMs = durationMs(t.hist.Max())
	return f
}
