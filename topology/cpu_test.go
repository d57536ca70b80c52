//go:build topology

package topology

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of /proc's CPU times on Linux.
const userHZ = 100

// cpuSample is the CPU time used so far by the machine and by each
// component of the topology, read from /proc.
type cpuSample struct {
	at        time.Time
	busy, all float64            // machine-wide, in seconds of CPU
	byName    map[string]float64 // component → seconds of CPU
}

// sampleCPU reads the machine's counters and those of the given processes
// (pid → component) and their children (PostgreSQL's backends are the
// postmaster's).
func sampleCPU(owner map[int]string) cpuSample {
	s := cpuSample{at: time.Now(), byName: map[string]float64{}}
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		fields := strings.Fields(strings.SplitN(string(b), "\n", 2)[0]) // cpu user nice system idle iowait irq softirq steal
		for i, f := range fields[1:] {
			v, _ := strconv.ParseFloat(f, 64)
			if i >= 8 {
				break // guest time is already counted in user
			}
			s.all += v / userHZ
			if i != 3 && i != 4 {
				s.busy += v / userHZ
			}
		}
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// pid (comm) state ppid … utime stime: fields 14 and 15.
		rest := string(b)[strings.LastIndexByte(string(b), ')')+2:]
		f := strings.Fields(rest)
		if len(f) < 13 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		name, ok := owner[pid]
		if !ok {
			name, ok = owner[ppid]
		}
		if !ok {
			continue
		}
		utime, _ := strconv.ParseFloat(f[11], 64)
		stime, _ := strconv.ParseFloat(f[12], 64)
		s.byName[name] += (utime + stime) / userHZ
	}
	return s
}

// cpuReport says how busy the machine was between two samples and which
// components used the CPU, in cores.
func cpuReport(from, to cpuSample) string {
	wall := to.at.Sub(from.at).Seconds()
	out := fmt.Sprintf("machine %.0f%% busy", 100*(to.busy-from.busy)/(to.all-from.all))
	var names []string
	for n := range to.byName {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		return to.byName[names[i]]-from.byName[names[i]] > to.byName[names[j]]-from.byName[names[j]]
	})
	var parts []string
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s %.2f", n, (to.byName[n]-from.byName[n])/wall))
	}
	return out + "; cores used: " + strings.Join(parts, ", ")
}
