package spec

import (
	"strings"
	"time"

	"github.com/reelflow/reelflow/workflows"
)

// timeoutsAgree refuses timeouts that contradict each other, taking the defaults for the
// keys not given (set), as the Job does:
//   - the deadline counts from the Job's start and contains the push window, so it must
//     be longer: "deadline: 1m" under the default 10m push window would give up on a
//     render before reelflow's faster polling ever begins;
//   - the batched sweep polls a waiting Job every sweep, so a sweep as long as the
//     deadline never comes;
//   - poll_max caps an interval that starts at poll_initial and doubles, so it may not be
//     shorter. A poll_max left out follows a longer poll_initial (Timeouts.WithDefaults),
//     so only two given values can disagree.
func (c *checker) timeoutsAgree(t workflows.Timeouts, set map[string]bool) {
	eff := t.WithDefaults()
	if eff.Deadline <= eff.PushWindow && (set["deadline"] || set["push_window"]) {
		field := "timeouts.deadline"
		if !set["deadline"] {
			field = "timeouts.push_window"
		}
		c.add(field, "deadline %s is not longer than push_window %s: the deadline counts from the Job's start and includes the wait for a webhook; make deadline longer or push_window shorter",
			shown(eff.Deadline, set["deadline"]), shown(eff.PushWindow, set["push_window"]))
	}
	if set["sweep"] && eff.Sweep >= eff.Deadline {
		c.add("timeouts.sweep", "%s is not shorter than deadline %s: a waiting Job would give up before its first sweep",
			short(eff.Sweep), shown(eff.Deadline, set["deadline"]))
	}
	if set["poll_initial"] && set["poll_max"] && t.PollMax < t.PollInitial {
		c.add("timeouts.poll_max", "%s is shorter than poll_initial %s: polls start poll_initial apart and double up to poll_max", short(t.PollMax), short(t.PollInitial))
	}
}

// shown writes a duration, saying when it is the default.
func shown(d time.Duration, given bool) string {
	if given {
		return short(d)
	}
	return short(d) + " (the default)"
}

// short writes a duration as a spec would: 10m, not 10m0s.
func short(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
