//go:build topology

package topology

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	failurepb "go.temporal.io/api/failure/v1"
)

// minOutage is how long the Temporal server and PostgreSQL stay down at
// least: the 30 s outage README says transfers ride out. It is shorter than
// the transfers' heartbeat timeout (60 s), and a worker's heartbeat waits up
// to 50 s for Temporal to answer (worker.HeartbeatRPCTimeout) where the SDK
// alone would cancel the attempt after 3 s: so the Temporal phase checks
// that every attempt in flight went on — no activity started a second
// attempt, and no video was sent more than once plus one part, a
// single-stream one (which could not resume) exactly once.
// TOPOLOGY_MIN_OUTAGE (a Go duration) changes it.
var minOutage = func() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("TOPOLOGY_MIN_OUTAGE")); err == nil {
		return d
	}
	return 30 * time.Second
}()

// outageRate throttles each request of the restart phases' videos so that
// one video's download takes about a minute, longer than minOutage: the
// component comes back while every video's transfer is unfinished.
const outageRate = faultVideoSize / partsAtOnce / 60

// outage is one component going down and coming back. stop and start say
// what proves they did what they say.
type outage struct {
	component string
	// keepsAttempts: no transfer attempt may be cancelled by the outage;
	// the phase adds a video served in one stream to prove it.
	keepsAttempts bool
	stop          func(*testing.T) string // returns once the process has exited
	start         func(*testing.T) string // returns once a new process serves
	pid           func() int
}

// temporalRestartedMidTransfer kills the Temporal server (SIGKILL, as a crash
// or an OOM kill would) while videos are in flight, and starts a new one.
func (tp *topology) temporalRestartedMidTransfer(t *testing.T, fig *figures) {
	tp.restartMidTransfer(t, fig, "temporal", outage{
		component:     "the Temporal server",
		keepsAttempts: true,
		stop: func(t *testing.T) string {
			tp.temporal.kill(t)
			return "exited by SIGKILL"
		},
		start: func(t *testing.T) string {
			tp.temporal.start(t)
			return "the new process's frontend answers its health check"
		},
		pid: func() int { return tp.temporal.proc.pid() },
	})
}

// postgresRestartedMidTransfer crashes PostgreSQL (an immediate shutdown:
// every backend aborted, no checkpoint, WAL replayed on start) while videos
// are in flight, and starts it again on the same data directory. The
// Temporal server stays up through it.
func (tp *topology) postgresRestartedMidTransfer(t *testing.T, fig *figures) {
	tp.restartMidTransfer(t, fig, "postgres", outage{
		component: "PostgreSQL",
		stop: func(t *testing.T) string {
			tp.pg.crash(t)
			if tp.pg.ready() {
				t.Fatal("PostgreSQL still answers after its postmaster exited")
			}
			return "postmaster exited, control file left \"in production\", pg_isready refused"
		},
		start: func(t *testing.T) string {
			tp.pg.start(t)
			if !tp.pg.recovered() {
				t.Fatalf("the new PostgreSQL's log does not tell a crash recovery:\n%s", tail(tp.pg.proc.logPath, 20))
			}
			if tp.temporal.proc.exited() {
				t.Fatalf("the Temporal server exited while PostgreSQL was down: %v", tp.temporal.proc.err)
			}
			return "the new postmaster ran crash recovery (its log: automatic recovery in progress)"
		},
		pid: func() int { return tp.pg.pid() },
	})
}

// restartMidTransfer takes a component down while videos are being
// downloaded and proves they were: downloads in flight at the stop are still
// being served after the process exited. It keeps the component down until
// both ingresses have answered 503 to notifications sent meanwhile, starts a
// new process (a new pid) while the videos are unfinished, proves their
// transfers went on after it (the origin served them before the stop and
// after the restart), and measures how soon new work completes.
func (tp *topology) restartMidTransfer(t *testing.T, fig *figures, tag string, o outage) {
	ns := tp.faultNotifications(tag, outageRate)
	if o.keepsAttempts {
		// Served in one stream at the rate of the others: nothing of it can
		// resume, so a cancelled attempt would fetch it all again.
		id := tag + "-single"
		ns = append(ns, tp.newNotification(id, "user-"+id, "Single-stream video "+id,
			mediaSpec{videoSize: faultVideoSize, bytesPerSecond: faultVideoSize / 60, noRanges: true}))
	}
	tp.deliverAll(t, ns, len(ns), time.Minute)
	tp.waitTransfersInFlight(t, ns)
	videoBytes := func() int64 {
		var n int64
		for _, v := range ns {
			n += tp.origin.BytesSent(v.videoPath)
		}
		return n
	}

	oldPID := o.pid()
	atStop := tp.inFlightVideos(ns)
	stoppedAt := time.Now()
	howStopped := o.stop(t)
	exitedAt := time.Now()
	bytesAtExit := videoBytes()
	spanning := 0
	for _, s := range tp.inFlightVideos(ns) {
		if slices.Contains(atStop, s) {
			spanning++
		}
	}
	if spanning == 0 {
		t.Fatalf("none of the %d video downloads in flight when %s was stopped was still in flight after it had exited: the fault hit no transfer", len(atStop), o.component)
	}
	during := tp.smallNotifications(tag+"-outage", 6)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); tp.deliverAll(t, during, len(during), 3*time.Minute+minOutage) }()
	// The ingresses queue what Temporal cannot start (issue 20): 202 with
	// queued, or 503 when the start failed otherwise; never a started run.
	waitFor(t, time.Minute+minOutage, "both ingresses to answer (queued or 503) while "+o.component+" is down, with video bytes flowing", func() bool {
		if time.Since(stoppedAt) < minOutage {
			return false
		}
		var answered [2]bool
		for _, n := range during {
			for _, a := range n.history() {
				if a.Status == http.StatusServiceUnavailable || a.Queued {
					answered[a.Ingress] = true
				}
			}
		}
		return answered[0] && answered[1] && videoBytes() > bytesAtExit
	})
	restartAt := time.Now()
	streamed := videoBytes() - bytesAtExit
	var unfinished []*notification
	for _, n := range ns {
		if tp.receiver.storedCount([]string{n.WochitVideoID}) == 0 {
			unfinished = append(unfinished, n)
		}
	}
	if len(unfinished) == 0 {
		t.Fatalf("every video of the phase was stored before %s was started again: the restart hit no transfer", o.component)
	}
	howStarted := o.start(t)
	servingAt := time.Now()
	if o.pid() == oldPID {
		t.Fatalf("the new %s process has the old one's pid %d", o.component, oldPID)
	}
	t.Logf("%s (pid %d) stopped with %d video downloads in flight: %s; %d of them still in flight after it had exited; %d KiB of video streamed while it was down; %d of %d videos unfinished when pid %d started, serving %s later: %s",
		o.component, oldPID, len(atStop), howStopped, spanning, streamed>>10, len(unfinished), len(ns), o.pid(), fmtDur(servingAt.Sub(restartAt)), howStarted)
	readyAt := make(chan map[string]time.Duration, 1)
	go func() { readyAt <- tp.readyAgain(servingAt) }()
	probe := tp.probe(t, tag+"-probe")
	ready := <-readyAt
	wg.Wait()
	unavailable := checkNoPromiseDuring(t, during, exitedAt, restartAt, o.component)

	all := append(slices.Clone(ns), during...)
	tp.waitStored(t, all, 3*time.Minute, "every video of the "+tag+" phase to be stored")
	// Proof the restart came mid-transfer: videos downloaded in part before
	// the stop were downloaded on after the new process served.
	resumed, resumedAt := tp.videosDownloadedAcross(unfinished, stoppedAt, servingAt)
	if resumed == 0 {
		t.Fatalf("none of the %d videos unfinished at the restart was downloaded both before %s stopped and after it was back", len(unfinished), o.component)
	}
	closes := tp.closeTimes(t, all)
	last := slices.MaxFunc(closes, func(a, b time.Time) int { return a.Compare(b) })
	attempts, retried := tp.attemptsOf(t, ns)
	if o.keepsAttempts {
		tp.checkNothingFetchedTwice(t, ns, o.component)
		if len(retried) > 0 {
			t.Errorf("%s being down cost attempts: %s", o.component, strings.Join(retried, "; "))
		}
	}
	fig.add("%s down mid-transfer for %s (%d downloads in flight at the stop, %d KiB streamed while down): the new process served %s after its start; /readyz 200 again after that: %s; the unfinished videos' next download began %s after it (%d of %d downloaded on); a notification sent then completed %s after it (idle: %s); all %d videos of the phase completed %s after it; %d answers 503 meanwhile, the other answers 202 queued; most attempts of an activity: %d; %s",
		o.component, fmtDur(servingAt.Sub(stoppedAt)), len(atStop), streamed>>10, fmtDur(servingAt.Sub(restartAt)), fmtReady(ready), fmtDur(resumedAt.Sub(servingAt)), resumed, len(unfinished), fmtDur(probe.Sub(servingAt)), fmtDur(tp.idleLatency),
		len(all), fmtDur(last.Sub(servingAt)), unavailable, attempts, tp.refetchRatio(ns))
}

// checkNothingFetchedTwice proves from the origin's request log that no
// transfer of ns started over: each video was sent at most once plus one
// part, and one served in one stream was asked for exactly once.
func (tp *topology) checkNothingFetchedTwice(t *testing.T, ns []*notification, component string) {
	t.Helper()
	for _, n := range ns {
		sent, reqs := tp.origin.BytesSent(n.videoPath), tp.origin.RequestsFor(n.videoPath)
		if limit := int64(len(n.video)) + partBytes; sent > limit {
			t.Errorf("%s: the origin sent %d bytes of a %d-byte video over %d requests, more than once plus one part, across %s's outage", short(n.WochitVideoID), sent, len(n.video), len(reqs), component)
		}
		if strings.HasSuffix(n.WochitVideoID, "-single") && (len(reqs) != 1 || sent != int64(len(n.video))) {
			t.Errorf("%s: the single-stream video was asked for %d times and sent %d of its %d bytes; want once, whole, across %s's outage", short(n.WochitVideoID), len(reqs), sent, len(n.video), component)
		}
	}
}

// attemptsOf is the highest attempt any activity of ns's runs started, as
// their histories record it, and the retries that were not an origin host's
// slots being taken (OriginHostBusy turns an attempt away before it sends a
// request): an attempt cancelled by an outage comes back as a retry after a
// timeout or a cancellation.
func (tp *topology) attemptsOf(t *testing.T, ns []*notification) (most int32, retried []string) {
	t.Helper()
	for _, n := range ns {
		it := tp.client.GetWorkflowHistory(context.Background(), "wochit-video-"+n.WochitVideoID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			e, err := it.Next()
			if err != nil {
				t.Fatalf("%s: reading its history: %v", short(n.WochitVideoID), err)
			}
			a := e.GetActivityTaskStartedEventAttributes()
			if a == nil {
				continue
			}
			most = max(most, a.GetAttempt())
			if f := a.GetLastFailure(); a.GetAttempt() > 1 && f.GetApplicationFailureInfo().GetType() != "OriginHostBusy" {
				retried = append(retried, fmt.Sprintf("%s: attempt %d after %s", short(n.WochitVideoID), a.GetAttempt(), failureKind(f)))
			}
		}
	}
	return most, retried
}

// failureKind names a failure without its message (encrypted).
func failureKind(f *failurepb.Failure) string {
	switch {
	case f.GetTimeoutFailureInfo() != nil:
		return "a timeout (" + f.GetTimeoutFailureInfo().GetTimeoutType().String() + ")"
	case f.GetCanceledFailureInfo() != nil:
		return "a cancellation"
	case f.GetApplicationFailureInfo() != nil:
		return "a failure of type " + f.GetApplicationFailureInfo().GetType()
	}
	return "a failure"
}

// readyAgain polls every process's /readyz and returns how long after since
// each answered 200 again (its Temporal client reconnected).
func (tp *topology) readyAgain(since time.Time) map[string]time.Duration {
	out := map[string]time.Duration{}
	urls := map[string]string{}
	for i := range 2 {
		urls[fmt.Sprintf("ingress-%d", i+1)] = tp.adminURLs[i] + "/readyz"
		urls[fmt.Sprintf("worker-%d", i+1)] = "http://" + tp.workerAddrs[i] + "/readyz"
	}
	deadline := time.Now().Add(2 * time.Minute)
	for len(out) < len(urls) && time.Now().Before(deadline) {
		for name, u := range urls {
			if _, done := out[name]; !done && httpOK(u) {
				out[name] = time.Since(since)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return out
}

func fmtReady(ready map[string]time.Duration) string {
	var parts []string
	for _, name := range []string{"ingress-1", "ingress-2", "worker-1", "worker-2"} {
		if d, ok := ready[name]; ok {
			parts = append(parts, name+" "+fmtDur(d))
		} else {
			parts = append(parts, name+" never")
		}
	}
	return strings.Join(parts, ", ")
}

// smallNotifications are sent while a component is down, to see the door
// answer 503 and then keep its promise.
func (tp *topology) smallNotifications(tag string, n int) []*notification {
	var ns []*notification
	for i := range n {
		id := fmt.Sprintf("%s-%d", tag, i+1)
		ns = append(ns, tp.newNotification(id, "user-"+id, "During the outage "+id, mediaSpec{videoSize: loadVideoSize}))
	}
	return ns
}

// checkNoPromiseDuring fails if an ingress answered a started run (2xx
// without queued) to a request that was sent and answered entirely while
// the component was down: only the inbox could have made it durable.
func checkNoPromiseDuring(t *testing.T, ns []*notification, downFrom, downUntil time.Time, component string) (unavailable int) {
	t.Helper()
	for _, n := range ns {
		for _, a := range n.history() {
			if a.Status == http.StatusServiceUnavailable {
				unavailable++
			}
			if a.Status/100 == 2 && !a.Queued && a.Sent.After(downFrom) && a.Answered.Before(downUntil) {
				t.Errorf("%s was answered %d while %s was down", short(n.WochitVideoID), a.Status, component)
			}
		}
	}
	return unavailable
}

// waitTransfersInFlight waits until at least two of ns's videos are being
// downloaded, with bytes flowing.
func (tp *topology) waitTransfersInFlight(t *testing.T, ns []*notification) {
	t.Helper()
	waitFor(t, 2*time.Minute, "video transfers to be in flight", func() bool {
		videos := map[string]bool{}
		for _, s := range tp.inFlightVideos(ns) {
			if s.Bytes() >= 128<<10 {
				videos[s.Path] = true
			}
		}
		return len(videos) >= 2
	})
}

// videosDownloadedAcross counts the videos of ns the origin served a
// request for that began before from and one that began after until, and
// returns when the first of those later requests began.
func (tp *topology) videosDownloadedAcross(ns []*notification, from, until time.Time) (n int, first time.Time) {
	for _, v := range ns {
		var before, after bool
		for _, s := range tp.origin.RequestsFor(v.videoPath) {
			before = before || s.Start.Before(from)
			if s.Start.After(until) {
				after = true
				if first.IsZero() || s.Start.Before(first) {
					first = s.Start
				}
			}
		}
		if before && after {
			n++
		}
	}
	return n, first
}
