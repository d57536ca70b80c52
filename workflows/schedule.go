package workflows

import (
	"fmt"
	"strings"
	"time"
)

// DefaultCallbackSchedule is the wait before each callback attempt: the first
// goes out at once, the last about 27.5 hours later, so a backend that is
// down for a day still gets the event. Each wait is stretched by up to
// callbackJitter so that many callbacks failing together do not retry in
// lockstep.
var DefaultCallbackSchedule = []time.Duration{
	0, 5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour,
}

// MaxCallbackAttempts bounds a schedule's length: every attempt adds a few
// events to the workflow's history.
const MaxCallbackAttempts = 100

// ParseCallbackSchedule reads a schedule written as comma-separated waits,
// such as "0s,5s,5m,30m,2h,5h,10h,10h": the wait before each attempt.
func ParseCallbackSchedule(s string) ([]time.Duration, error) {
	var schedule []time.Duration
	for i, field := range strings.Split(s, ",") {
		field = strings.TrimSpace(field)
		if field == "" {
			return nil, fmt.Errorf("entry %d is empty; want waits such as 0s,5s,5m,2h", i+1)
		}
		d, err := time.ParseDuration(field)
		if err != nil {
			return nil, fmt.Errorf("entry %d (%q) is not a duration such as 30s, 5m or 2h", i+1, field)
		}
		if d < 0 {
			return nil, fmt.Errorf("entry %d (%q) is negative", i+1, field)
		}
		schedule = append(schedule, d)
	}
	if len(schedule) > MaxCallbackAttempts {
		return nil, fmt.Errorf("%d attempts; at most %d", len(schedule), MaxCallbackAttempts)
	}
	return schedule, nil
}

// FormatCallbackSchedule writes a schedule the way ParseCallbackSchedule
// reads it, without Go's trailing zero units ("5m", not "5m0s").
func FormatCallbackSchedule(schedule []time.Duration) string {
	parts := make([]string, len(schedule))
	for i, d := range schedule {
		s := d.String()
		if strings.HasSuffix(s, "m0s") {
			s = strings.TrimSuffix(s, "0s")
		}
		if strings.HasSuffix(s, "h0m") {
			s = strings.TrimSuffix(s, "0m")
		}
		parts[i] = s
	}
	return strings.Join(parts, ",")
}
