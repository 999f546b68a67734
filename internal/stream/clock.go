package stream

import "time"

// The wall time a reader's RTCP sender reports pair with a packet's RTP
// time. Arrival time is not it: a camera whose packets come late after a
// stall (a busy encoder, Wi-Fi) would make every reader's timestamps jump. So
// a track follows its media clock from one anchor, or, when the source sends
// its own sender reports, the source's NTP times, which keep its tracks in
// sync with each other. Either is pulled towards our own clock slowly, by at
// most driftStep per driftWindow, from the least delayed packet of each
// window: enough to follow a camera crystal that runs fast or slow, never
// arrival jitter.
const (
	driftWindow = 10 * time.Second
	driftStep   = 10 * time.Millisecond
	// reanchorAfter: further off than this, the source's clock jumped (a
	// timestamp reset); start again from arrival
	reanchorAfter = 10 * time.Second
)

// drift tracks how far a mapped time runs from arrival.
type drift struct {
	minErr time.Duration
	winEnd time.Time
}

// correction takes one packet's arrival minus mapped time and returns what to
// add to the mapping now.
func (d *drift) correction(err time.Duration, now time.Time) time.Duration {
	if d.winEnd.IsZero() {
		d.minErr, d.winEnd = err, now.Add(driftWindow)
		return 0
	}
	d.minErr = min(d.minErr, err)
	if now.Before(d.winEnd) {
		return 0
	}
	step := max(-driftStep, min(driftStep, d.minErr))
	d.winEnd = now.Add(driftWindow)
	d.minErr = err - step
	return step
}

// mediaClock maps one track's (rewritten) RTP time to wall time.
type mediaClock struct {
	rate   float64
	set    bool
	ts     uint32
	wall   time.Time
	drift  drift
	viaSrc bool // the last mapping came from the source's NTP
}

// sourceClock is the offset from a source's NTP times to our clock, one per
// source connection so its tracks keep the source's sync.
type sourceClock struct {
	set   bool
	off   time.Duration
	drift drift
}

// at returns the wall time of RTP time ts that arrived at now; srcNTP is the
// source's own NTP time for it, or zero.
func (c *mediaClock) at(ts uint32, now, srcNTP time.Time, src *sourceClock) time.Time {
	if !srcNTP.IsZero() && src != nil {
		if !src.set {
			src.set, src.off = true, now.Sub(srcNTP)
		}
		w := srcNTP.Add(src.off)
		err := now.Sub(w)
		if err > reanchorAfter || err < -reanchorAfter {
			src.off += err
			w = now
		} else {
			src.off += src.drift.correction(err, now)
		}
		c.set, c.ts, c.wall, c.viaSrc = true, ts, w, true
		return w
	}
	if !c.set || c.rate <= 0 {
		c.set, c.ts, c.wall = true, ts, now
		return now
	}
	w := c.wall.Add(time.Duration(float64(int32(ts-c.ts)) * float64(time.Second) / c.rate))
	err := now.Sub(w)
	if err > reanchorAfter || err < -reanchorAfter {
		w = now
	} else if !c.viaSrc {
		w = w.Add(c.drift.correction(err, now))
	}
	c.ts, c.wall, c.viaSrc = ts, w, false
	return w
}
