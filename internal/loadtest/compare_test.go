package loadtest

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// TestCompareTransports measures one target with TCP and UDP readers of a
// play URL other than the published one: a row each, the transport and the
// play path in the table, and the UDP ÷ TCP line under it.
func TestCompareTransports(t *testing.T) {
	h := &testServer{udp: true}
	addr := startTestServer(t, h, nil)
	rows, err := Compare(context.Background(), CompareConfig{
		Readers: []int{1}, Duration: time.Second, Warmup: 100 * time.Millisecond,
		Input: syntheticInput(60, 30), SkipRelay: true,
		TargetURL: "rtsp://" + addr + "/bench", TargetPID: os.Getpid(),
		TargetPlayURLs: []string{"rtsp://" + addr + "/other"},
		Transports:     []string{TransportTCP, TransportUDP},
		Logger:         quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Transport != TransportTCP || rows[1].Transport != TransportUDP {
		t.Fatalf("rows %+v", rows)
	}
	for _, row := range rows {
		if row.Target == nil || row.Target.Transport != row.Transport || row.Target.DeliveredMinPct != 100 {
			t.Fatalf("%s row: %+v", row.Transport, row.Target)
		}
	}
	if n := h.describes("other"); n != 2 {
		t.Errorf("%d DESCRIBEs of the play path, want 2", n)
	}
	table := MarkdownTable(rows)
	t.Log("\n" + table)
	for _, want := range []string{"| 1 | tcp | /other |", "| 1 | udp | /other |", "- UDP ÷ TCP target CPU, 1 readers of /other: "} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q", want)
		}
	}
}

func TestMarkdownTableRatios(t *testing.T) {
	res := func(cpu float64) *Result {
		return &Result{ServerCPU: cpu, ReaderFigures: ReaderFigures{DeliveredMinPct: 100}}
	}
	relay := res(0.1)
	rows := []CompareRow{
		{Readers: 200, Transport: TransportTCP, PlayURL: "rtsp://h:1/bench", Target: res(0.2), Relay: relay},
		{Readers: 200, Transport: TransportUDP, PlayURL: "rtsp://h:1/bench", Target: res(0.3), Relay: relay},
		{Readers: 200, Transport: TransportTCP, PlayURL: "rtsp://h:1/bench2", Target: res(0.25), Relay: relay},
	}
	table := MarkdownTable(rows)
	t.Log("\n" + table)
	for _, want := range []string{
		"| 200 | udp | /bench | 0.300 | 0.100 | 3.00 |",
		"- UDP ÷ TCP target CPU, 200 readers of /bench: 1.50 (0.300 / 0.200 cores",
		"- /bench2 ÷ /bench target CPU, 200 tcp readers: 1.25 (0.250 / 0.200 cores",
	} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q", want)
		}
	}
	if strings.Contains(table, "of /bench2") {
		t.Error("UDP ÷ TCP line for a play URL measured with TCP only")
	}
}
