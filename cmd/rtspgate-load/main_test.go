package main

import (
	"slices"
	"testing"
)

func TestParseBitrate(t *testing.T) {
	for in, want := range map[string]int{"": 0, "2M": 2_000_000, "1.5m": 1_500_000, "1500k": 1_500_000, "400000": 400_000} {
		if got, err := parseBitrate(in); err != nil || got != want {
			t.Errorf("parseBitrate(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"M", "2G", "-1M", "fast"} {
		if _, err := parseBitrate(in); err == nil {
			t.Errorf("parseBitrate(%q) accepted", in)
		}
	}
}

func TestTargetSpecs(t *testing.T) {
	f := targetFlags{kinds: "rtspgate, go2rtc", bins: "/a,/b"}
	got, err := f.specs()
	if err != nil || !slices.Equal(got, []targetSpec{{"rtspgate", "/a"}, {"go2rtc", "/b"}}) {
		t.Fatalf("specs %v, %v", got, err)
	}
	for _, bad := range []targetFlags{{kinds: "rtspgate"}, {kinds: "rtspgate,go2rtc", bins: "/a"}, {kinds: "mediamtx", bins: "/a"}} {
		if _, err := bad.specs(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestSplitList(t *testing.T) {
	got := splitList(" tcp, udp,,")
	if len(got) != 2 || got[0] != "tcp" || got[1] != "udp" {
		t.Fatalf("splitList: %q", got)
	}
	if splitList("") != nil {
		t.Fatal("splitList of nothing is not empty")
	}
}
