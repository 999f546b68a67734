package loadtest

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Text returns the human-readable summary of a run.
func (r *Result) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "rtspgate-load run: %s\n", r.URL)
	fmt.Fprintf(&b, "  readers        %d connected of %d (%d dropped before the end)\n",
		r.ReadersConnected, r.Readers, r.ReadersDropped)
	if r.FirstError != "" {
		fmt.Fprintf(&b, "  first error    %s\n", r.FirstError)
	}
	fmt.Fprintf(&b, "  window         %.1f s after %.1f s warm-up\n", r.DurationS, r.WarmupS)
	fmt.Fprintf(&b, "  frames sent    %d (%.2f fps, %.2f Mbit/s video, %d publisher queue drops)\n",
		r.FramesSent, r.FPS, r.VideoMbitS, r.PublisherDrops)
	fmt.Fprintf(&b, "  delivered      min %.2f %%, mean %.2f %%; %.1f %% of readers got >= 99.5 %%\n",
		r.DeliveredMinPct, r.DeliveredMeanPct, r.ReadersFullPct)
	fmt.Fprintf(&b, "  sequence gaps  %d (%d malformed packets)\n", r.SeqGaps, r.MalformedPackets)
	fmt.Fprintf(&b, "  latency        p50 %.2f ms, p99 %.2f ms, max %.2f ms (%d frames, send to last packet)\n",
		r.LatencyP50Ms, r.LatencyP99Ms, r.LatencyMaxMs, r.LatencySamples)
	if r.ServerPID != 0 {
		fmt.Fprintf(&b, "  server         pid %d: %.3f cores, RSS %.1f MiB\n", r.ServerPID, r.ServerCPU, r.ServerRSSMiB)
	} else {
		fmt.Fprintf(&b, "  server         not sampled (no -pid)\n")
	}
	fmt.Fprintf(&b, "  tool           %.3f cores\n", r.ToolCPU)
	return b.String()
}

// JSON returns the result as one line of JSON.
func (r *Result) JSON() string {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Sprintf(`{"error":%q}`, err.Error())
	}
	return string(b)
}

// MarkdownTable renders a comparison; target columns show "–" when only the
// relay was measured.
func MarkdownTable(rows []CompareRow) string {
	var b strings.Builder
	b.WriteString("| readers | target CPU | relay CPU | target ÷ relay | delivered % (min) target / relay | p99 ms target / relay | RSS MiB target / relay |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, row := range rows {
		t, r := row.Target, row.Relay
		ratio := "–"
		if t != nil && r != nil && r.ServerCPU > 0 {
			ratio = fmt.Sprintf("%.2f", t.ServerCPU/r.ServerCPU)
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %s / %s | %s / %s | %s / %s |\n",
			row.Readers,
			cell(t, func(x *Result) string { return fmt.Sprintf("%.3f", x.ServerCPU) }),
			cell(r, func(x *Result) string { return fmt.Sprintf("%.3f", x.ServerCPU) }),
			ratio,
			cell(t, func(x *Result) string { return fmt.Sprintf("%.2f", x.DeliveredMinPct) }),
			cell(r, func(x *Result) string { return fmt.Sprintf("%.2f", x.DeliveredMinPct) }),
			cell(t, func(x *Result) string { return fmt.Sprintf("%.1f", x.LatencyP99Ms) }),
			cell(r, func(x *Result) string { return fmt.Sprintf("%.1f", x.LatencyP99Ms) }),
			cell(t, func(x *Result) string { return fmt.Sprintf("%.1f", x.ServerRSSMiB) }),
			cell(r, func(x *Result) string { return fmt.Sprintf("%.1f", x.ServerRSSMiB) }),
		)
	}
	return b.String()
}

func cell(r *Result, f func(*Result) string) string {
	if r == nil {
		return "–"
	}
	return f(r)
}
