//go:build topology

package topology

import (
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// faultNotifications are the videos in flight when a fault hits, each
// ranged request of them served at bytesPerSecond.
func (tp *topology) faultNotifications(tag string, bytesPerSecond int64) []*notification {
	var ns []*notification
	for i := range faultVideos {
		id := fmt.Sprintf("%s-%d", tag, i+1)
		ns = append(ns, tp.newNotification(id, "user-"+id, "Fault video "+id, mediaSpec{videoSize: faultVideoSize, bytesPerSecond: bytesPerSecond}))
	}
	return ns
}

// inFlightVideos are the video requests of ns being served right now.
func (tp *topology) inFlightVideos(ns []*notification) []*served {
	paths := map[string]bool{}
	for _, n := range ns {
		paths[n.videoPath] = true
	}
	return tp.origin.InFlight(func(p string) bool { return paths[p] })
}

// workerKilledMidVideo kills, with SIGKILL, a worker the origin is sending a
// video to, proves the transfer was cut by the kill, starts a replacement,
// and waits for every video to be stored.
func (tp *topology) workerKilledMidVideo(t *testing.T, fig *figures) {
	ns := tp.faultNotifications("kill", faultRate)
	tp.deliverAll(t, ns, len(ns), time.Minute)

	// Pick the worker that is receiving the most video bytes right now.
	var victim int
	var cut []*served
	waitFor(t, 2*time.Minute, "a worker to be receiving a video", func() bool {
		best := 0
		for i, w := range tp.workers {
			ports, err := localPortsOf(w.pid())
			if err != nil {
				continue
			}
			var mine []*served
			for _, s := range tp.inFlightVideos(ns) {
				if ports[s.ClientPort] && s.Bytes() >= 256<<10 {
					mine = append(mine, s)
				}
			}
			if len(mine) > best {
				best, victim, cut = len(mine), i, mine
			}
		}
		return best > 0
	})
	w := tp.workers[victim]
	killedAt := time.Now()
	if err := w.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := w.waitExit(t, 30*time.Second); !killedBy(err, syscall.SIGKILL) {
		t.Fatalf("worker %d ended with %v, not by SIGKILL", victim+1, err)
	}
	// Proof: requests the origin was serving to that process ended short.
	var finished []*served
	waitFor(t, 30*time.Second, "the killed worker's downloads to end", func() bool {
		finished = tp.origin.Finished()
		for _, c := range cut {
			if !slices.Contains(finished, c) {
				return false
			}
		}
		return true
	})
	// A download cut by the kill ended after it, short of its length.
	aborted := 0
	cutPaths := map[string]bool{}
	var partial []string
	for _, c := range cut {
		if c.Aborted && !c.End.Before(killedAt) {
			aborted++
			cutPaths[c.Path] = true
			partial = append(partial, fmt.Sprintf("%d of %d bytes", c.Bytes(), c.Want))
		}
	}
	if aborted == 0 {
		t.Fatalf("none of the %d video downloads worker %d had in flight ended short when it was killed", len(cut), victim+1)
	}
	t.Logf("worker %d (pid %d) exited by SIGKILL while receiving %d video part(s); %d download(s) cut by the kill (the origin sent %s)",
		victim+1, w.pid(), len(cut), aborted, strings.Join(partial, ", "))

	survivor := tp.workers[1-victim]
	tp.startWorker(t, victim)
	tp.waitWorkerReady(t, victim)

	// Which worker picks the cut transfers up, seen from the origin.
	var resumedBy string
	waitFor(t, 2*time.Minute, "a cut video to be asked for again", func() bool {
		for _, s := range tp.origin.InFlight(func(p string) bool { return cutPaths[p] }) {
			if !s.Start.After(killedAt) {
				continue
			}
			for _, w := range []*proc{survivor, tp.workers[victim]} {
				if ports, err := localPortsOf(w.pid()); err == nil && ports[s.ClientPort] {
					resumedBy = w.name
					return true
				}
			}
		}
		return false
	})
	tp.waitStored(t, ns, 3*time.Minute, "every video of the kill phase to be stored")

	// Recovery: when the cut videos were asked for again, and done.
	var resumed time.Time
	for p := range cutPaths {
		for _, s := range tp.origin.RequestsFor(p) {
			if s.Start.After(killedAt) && (resumed.IsZero() || s.Start.Before(resumed)) {
				resumed = s.Start
			}
		}
	}
	closes := tp.closeTimes(t, ns)
	var cutDone time.Time
	for i, n := range ns {
		if cutPaths[n.videoPath] && closes[i].After(cutDone) {
			cutDone = closes[i]
		}
	}
	fig.add("worker SIGKILL mid-video: %d download(s) cut; the origin was asked for a cut video again %s after the kill (by %s; the transfers' heartbeat timeout is 60s); the cut videos completed %s after the kill; %s",
		aborted, fmtDur(resumed.Sub(killedAt)), resumedBy, fmtDur(cutDone.Sub(killedAt)), tp.refetchRatio(ns))
}

// refetchRatio tells how many video bytes the origin sent for ns against
// how many were stored: what the fault cost in downloads.
func (tp *topology) refetchRatio(ns []*notification) string {
	var sent, size int64
	for _, n := range ns {
		sent += tp.origin.BytesSent(n.videoPath)
		size += int64(len(n.video))
	}
	return fmt.Sprintf("origin sent %.2f× the video bytes", float64(sent)/float64(size))
}
