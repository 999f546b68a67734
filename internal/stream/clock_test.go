package stream

import (
	"testing"
	"time"
)

// TestClockIgnoresLateArrival: packets that come 2 s late after a stall,
// with timestamps still on the media clock, keep their wall times on the
// media clock: sender reports made from them do not jump.
func TestClockIgnoresLateArrival(t *testing.T) {
	c := mediaClock{rate: 90000}
	t0 := time.Unix(1000, 0)
	frame := 40 * time.Millisecond
	var last time.Time
	for i := range 100 {
		arrival := t0.Add(time.Duration(i) * frame)
		if i >= 50 {
			arrival = arrival.Add(2 * time.Second) // the stall
		}
		w := c.at(uint32(i*3600), arrival, time.Time{}, nil)
		if i > 0 {
			if d := w.Sub(last); d < frame-time.Millisecond || d > frame+time.Millisecond {
				t.Fatalf("packet %d: wall time moved %v, want one frame (%v)", i, d, frame)
			}
		}
		last = w
	}
}

// TestClockFollowsSourceNTP: with the source's own NTP times, tracks of one
// source keep the source's relation even when one arrives later.
func TestClockFollowsSourceNTP(t *testing.T) {
	src := &sourceClock{}
	v, a := mediaClock{rate: 90000}, mediaClock{rate: 8000}
	ntp0 := time.Unix(5000, 0)
	now := time.Unix(1000, 0)
	wv := v.at(0, now, ntp0, src)
	// audio captured at the same instant arrives 300 ms later
	wa := a.at(0, now.Add(300*time.Millisecond), ntp0, src)
	if !wv.Equal(wa) {
		t.Fatalf("video %v audio %v: the source said they are simultaneous", wv, wa)
	}
}

// TestClockFollowsDriftSlowly: a source clock 0.5 % slow is followed, by at
// most driftStep per window.
func TestClockFollowsDriftSlowly(t *testing.T) {
	c := mediaClock{rate: 1000}
	t0 := time.Unix(1000, 0)
	var w time.Time
	for i := range 6000 { // 60 s, a packet each 10 ms of our clock
		arrival := t0.Add(time.Duration(i) * 10 * time.Millisecond)
		w = c.at(uint32(float64(i)*10*0.995), arrival, time.Time{}, nil)
	}
	behind := t0.Add(59990 * time.Millisecond).Sub(w)
	// the media clock alone is 300 ms behind; 5 windows of 10 ms each pulled it forward
	if behind > 300*time.Millisecond-40*time.Millisecond || behind < 300*time.Millisecond-60*time.Millisecond-time.Millisecond {
		t.Fatalf("after 60 s the mapping is %v behind our clock", behind)
	}
}
