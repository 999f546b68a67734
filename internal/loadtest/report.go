package loadtest

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Text returns the human-readable summary of a run.
func (r *Result) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "rtspgate-load run: %s\n", r.URL)
	if r.PlayURL != "" {
		fmt.Fprintf(&b, "  play           %s\n", r.PlayURL)
	}
	fmt.Fprintf(&b, "  readers        %d connected of %d over %s (%d dropped before the end)\n",
		r.ReadersConnected, r.Readers, r.transport(), r.ReadersDropped)
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

func (r *Result) transport() string {
	if r.Transport == "" {
		return TransportTCP
	}
	return r.Transport
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
// relay was measured. Below the table come the ratios of the target's CPU:
// UDP ÷ TCP readers for each reader count and play URL measured with both,
// and each play URL ÷ the first for each reader count and transport when
// several were measured.
func MarkdownTable(rows []CompareRow) string {
	var b strings.Builder
	b.WriteString("| readers | transport | play | target CPU | relay CPU | target ÷ relay | delivered % (min) target / relay | p99 ms target / relay | RSS MiB target / relay |\n")
	b.WriteString("|---:|---|---|---:|---:|---:|---:|---:|---:|\n")
	for _, row := range rows {
		t, r := row.Target, row.Relay
		ratio := "–"
		if t != nil && r != nil && r.ServerCPU > 0 {
			ratio = fmt.Sprintf("%.2f", t.ServerCPU/r.ServerCPU)
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s | %s / %s | %s / %s | %s / %s |\n",
			row.Readers, orDash(row.Transport), orDash(urlPath(row.PlayURL)),
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
	b.WriteString(compareRatios(rows))
	return b.String()
}

// compareRatios lists the target CPU ratios described at MarkdownTable.
func compareRatios(rows []CompareRow) string {
	type key struct {
		readers         int
		transport, play string
	}
	byKey := make(map[key]*Result)
	var plays []string
	for _, row := range rows {
		if row.Target == nil {
			continue
		}
		byKey[key{row.Readers, row.Transport, row.PlayURL}] = row.Target
		if !slices.Contains(plays, row.PlayURL) {
			plays = append(plays, row.PlayURL)
		}
	}
	var lines []string
	line := func(what string, a, b *Result) {
		if a == nil || b == nil || b.ServerCPU <= 0 {
			return
		}
		lines = append(lines, fmt.Sprintf("- %s: %.2f (%.3f / %.3f cores; delivered min %.2f / %.2f %%)",
			what, a.ServerCPU/b.ServerCPU, a.ServerCPU, b.ServerCPU, a.DeliveredMinPct, b.DeliveredMinPct))
	}
	seen := make(map[key]bool)
	for _, row := range rows {
		k := key{row.Readers, "", row.PlayURL}
		if row.Target == nil || seen[k] {
			continue
		}
		seen[k] = true
		line(fmt.Sprintf("UDP ÷ TCP target CPU, %d readers of %s", row.Readers, urlPath(row.PlayURL)),
			byKey[key{row.Readers, TransportUDP, row.PlayURL}], byKey[key{row.Readers, TransportTCP, row.PlayURL}])
	}
	if len(plays) > 1 {
		for _, row := range rows {
			if row.Target == nil || row.PlayURL == plays[0] {
				continue
			}
			line(fmt.Sprintf("%s ÷ %s target CPU, %d %s readers", urlPath(row.PlayURL), urlPath(plays[0]), row.Readers, row.Transport),
				row.Target, byKey[key{row.Readers, row.Transport, plays[0]}])
		}
	}
	if len(lines) == 0 {
		return ""
	}
	return "\n" + strings.Join(lines, "\n") + "\n"
}

// urlPath is the path and query of an rtsp:// URL, for a narrow column.
func urlPath(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Path == "" {
		return rawURL
	}
	if u.RawQuery != "" {
		return u.Path + "?" + u.RawQuery
	}
	return u.Path
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func cell(r *Result, f func(*Result) string) string {
	if r == nil {
		return "–"
	}
	return f(r)
}

// Text returns the human-readable summary of a many-cameras run.
func (r *CamerasResult) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "rtspgate-load cameras: %s, %d cameras × %d readers\n", r.Target, r.Cameras, r.ReadersPerCamera)
	fmt.Fprintf(&b, "  readers        %d connected of %d (%d dropped before the end)\n",
		r.ReadersConnected, r.Readers, r.ReadersDropped)
	if r.FirstError != "" {
		fmt.Fprintf(&b, "  first error    %s\n", r.FirstError)
	}
	fmt.Fprintf(&b, "  window         %.1f s after %.1f s warm-up\n", r.DurationS, r.WarmupS)
	fmt.Fprintf(&b, "  cameras        %d frames sent in all, %.2f Mbit/s video each; target sessions %d now, %d ever\n",
		r.FramesSent, r.VideoMbitS, r.CameraSessions, r.CameraSessionsTotal)
	fmt.Fprintf(&b, "  delivered      every reader every frame: %v; min %.2f %%, mean %.2f %%; %.1f %% of readers got >= 99.5 %%\n",
		r.EveryFrame, r.DeliveredMinPct, r.DeliveredMeanPct, r.ReadersFullPct)
	fmt.Fprintf(&b, "  sequence gaps  %d (%d malformed packets)\n", r.SeqGaps, r.MalformedPackets)
	fmt.Fprintf(&b, "  latency        p50 %.2f ms, p99 %.2f ms, max %.2f ms (%d frames, camera send to last packet)\n",
		r.LatencyP50Ms, r.LatencyP99Ms, r.LatencyMaxMs, r.LatencySamples)
	if r.ServerPID != 0 {
		fmt.Fprintf(&b, "  target         pid %d: %.3f cores, RSS %.1f MiB\n", r.ServerPID, r.ServerCPU, r.ServerRSSMiB)
	}
	fmt.Fprintf(&b, "  tool           %.3f cores (cameras and readers)\n", r.ToolCPU)
	return b.String()
}

// JSON returns the result as one line of JSON.
func (r *CamerasResult) JSON() string { return jsonLine(r) }

// CamerasTable renders many-cameras results, one row each.
func CamerasTable(rows []*CamerasResult) string {
	var b strings.Builder
	b.WriteString("| target | cameras × readers | CPU cores | RSS MiB | every frame | delivered % min / mean | latency p50 / p99 ms | camera sessions | tool CPU |\n")
	b.WriteString("|---|---:|---:|---:|---|---:|---:|---:|---:|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %d × %d | %.3f | %.1f | %s | %.2f / %.2f | %.2f / %.2f | %d | %.3f |\n",
			r.Target, r.Cameras, r.ReadersPerCamera, r.ServerCPU, r.ServerRSSMiB, yesNo(r.EveryFrame),
			r.DeliveredMinPct, r.DeliveredMeanPct, r.LatencyP50Ms, r.LatencyP99Ms, r.CameraSessions, r.ToolCPU)
	}
	return b.String()
}

// Text returns the first-frame results as a markdown table.
func (r *FirstFrameResult) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "rtspgate-load first-frame: %s, GOP %.1f s\n\n", r.Target, r.GOPSeconds)
	b.WriteString("| mode | url | ok / trials | PLAY→keyframe p50 / p90 / max ms | connect→keyframe p50 / p90 ms | keyframe sent before PLAY (oldest ms) | camera closed after ms (p50) |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|\n")
	for _, row := range r.Rows {
		closed := "–"
		if row.Mode == "cold" {
			closed = fmt.Sprintf("%.0f", row.CameraCloseP50Ms)
		}
		fmt.Fprintf(&b, "| %s | %s | %d / %d | %.0f / %.0f / %.0f | %.0f / %.0f | %d (%.0f) | %s |\n",
			row.Mode, row.URL, row.OK, row.Trials, row.PlayP50Ms, row.PlayP90Ms, row.PlayMaxMs,
			row.ConnectP50Ms, row.ConnectP90Ms, row.KeyframesBeforePlay, row.KeyframeAgeMaxMs, closed)
	}
	for _, row := range r.Rows {
		if row.FirstError != "" {
			fmt.Fprintf(&b, "\n%s %s: %d errors, first: %s", row.Mode, row.URL, row.Errors, row.FirstError)
		}
	}
	b.WriteString("\n")
	return b.String()
}

// JSON returns the result as one line of JSON.
func (r *FirstFrameResult) JSON() string { return jsonLine(r) }

func jsonLine(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf(`{"error":%q}`, err.Error())
	}
	return string(b)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
