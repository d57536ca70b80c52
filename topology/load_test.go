//go:build topology

package topology

import (
	"fmt"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// fiveHundredNotifications sends loadNotifications across both ingresses
// from loadSenders concurrent senders, the widest ones among them, then
// sends a few again (Wochit retrying) and expects duplicates.
func (tp *topology) fiveHundredNotifications(t *testing.T, fig *figures) {
	ns := tp.widestNotifications("load")
	for i := len(ns); i < loadNotifications; i++ {
		id := fmt.Sprintf("load-%03d", i+1)
		ns = append(ns, tp.newNotification(id, "user-"+id, fmt.Sprintf("Video %d", i+1), mediaSpec{videoSize: loadVideoSize}))
	}
	// Interleave the widest with the others.
	ns[0], ns[loadNotifications/3], ns[1], ns[loadNotifications/2], ns[2], ns[loadNotifications-1] =
		ns[loadNotifications/3], ns[0], ns[loadNotifications/2], ns[1], ns[loadNotifications-1], ns[2]

	components := map[int]string{
		tp.pg.proc.pid(): "PostgreSQL", tp.temporal.proc.pid(): "Temporal server",
		tp.workers[0].pid(): "workers", tp.workers[1].pid(): "workers",
		tp.ingresses[0].pid(): "ingresses", tp.ingresses[1].pid(): "ingresses",
		os.Getpid(): "test process (origin, GCS emulator, receiver, senders)",
	}
	cpuBefore := sampleCPU(components)
	started := time.Now()
	tp.deliverAll(t, ns, loadSenders, 3*time.Minute)
	answered := time.Now()
	if t.Failed() {
		return
	}
	var via [2]int
	for _, n := range ns {
		via[n.acceptedVia]++
	}
	tp.waitStored(t, ns, 10*time.Minute, fmt.Sprintf("all %d videos to be stored", len(ns)))
	cpu := cpuReport(cpuBefore, sampleCPU(components))

	// Wochit sending some of them again, to the other ingress: duplicates.
	for _, n := range []*notification{ns[0], ns[loadNotifications/3], ns[loadNotifications/2]} {
		before := len(n.history())
		tp.deliver(t, n, n.acceptedVia+1, time.Minute)
		if h := n.history(); h[len(h)-1].Status != http.StatusOK {
			t.Errorf("%s sent again: answered %d, want 200 (duplicate)", short(n.WochitVideoID), h[len(h)-1].Status)
		} else if len(h) != before+1 {
			t.Errorf("%s sent again: needed %d attempts", short(n.WochitVideoID), len(h)-before)
		}
	}

	closes := tp.closeTimes(t, ns)
	sort.Slice(closes, func(i, j int) bool { return closes[i].Before(closes[j]) })
	last := closes[len(closes)-1]
	p10, p90 := closes[len(closes)/10], closes[len(closes)*9/10]
	var latencies []time.Duration
	for _, n := range ns {
		for _, d := range tp.receiver.deliveries(n.WochitVideoID) {
			latencies = append(latencies, d.At.Sub(n.acceptedAt))
			break
		}
	}
	slices.Sort(latencies)
	fig.add("%d notifications, %d senders, ingresses 1/2 answered %d/%d 2xx in %s (%.0f/s); all completed %s after the first POST: %.1f completions/s overall, %.1f/s between the 10th and 90th percentile; accept→callback p50 %s, p99 %s",
		len(ns), loadSenders, via[0], via[1], fmtDur(answered.Sub(started)), float64(len(ns))/answered.Sub(started).Seconds(),
		fmtDur(last.Sub(started)), float64(len(ns))/last.Sub(started).Seconds(),
		float64(len(ns)*8/10)/p90.Sub(p10).Seconds(), fmtDur(latencies[len(latencies)/2]), fmtDur(latencies[len(latencies)*99/100]))
	fig.add("  during it: %s", cpu)
}

// probe sends one small notification and returns when its workflow
// completed: how soon the topology does new work.
func (tp *topology) probe(t *testing.T, id string) time.Time {
	t.Helper()
	n := tp.newNotification(id, "user-"+id, "Probe "+id, mediaSpec{videoSize: loadVideoSize})
	tp.deliver(t, n, 0, 2*time.Minute)
	tp.waitStored(t, []*notification{n}, 2*time.Minute, "the probe "+id+" to be stored")
	done := tp.closeTimes(t, []*notification{n})[0]
	var answers []string
	for _, a := range n.history() {
		answers = append(answers, fmt.Sprintf("%d from ingress %d in %s", a.Status, a.Ingress+1, fmtDur(a.Answered.Sub(a.Sent))))
	}
	t.Logf("probe %s: %s; completed %s after it was accepted", id, strings.Join(answers, ", then "), fmtDur(done.Sub(n.acceptedAt)))
	return done
}
