//go:build topology

package topology

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
)

const (
	namespace = "default"
	bucket    = "wochit-videos"
	prefix    = "videos/"
	// For this test only.
	callbackSecret = "whsec_dG9wb2xvZ3ktdGVzdC1zZWNyZXQtMzItYnl0ZXMhIQ=="

	// The 500 notifications are small files: the figure is the system's
	// rate of whole ingests, not bytes.
	loadNotifications = 500
	loadSenders       = 16
	loadVideoSize     = 64 << 10

	// Fault phases copy larger videos, throttled per request, in 1 MiB
	// parts (two at a time), so each transfer is in flight for seconds when
	// a fault hits: 10 s a video at faultRate. The restart phases throttle
	// harder (outageRate), so videos are still being downloaded when the
	// component comes back.
	faultVideos    = 4
	faultVideoSize = 10 << 20
	faultRate      = 512 << 10
	partSize       = "1MiB"
	partBytes      = 1 << 20
	partsAtOnce    = 2
)

var quietSDKLogger = sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))

// topology is everything the test runs.
type topology struct {
	dir  string
	logs *logDir
	bins binaries

	pg       *postgres
	temporal *temporalServer
	client   client.Client

	origin     *trackedOrigin
	originURL  string
	gcsURL     string
	gcsHandler http.Handler
	gcs        *storage.Client
	receiver   *receiver
	hookURL    string
	workerEnv  []string
	ingressEnv []string

	workers      [2]*proc
	workerAddrs  [2]string
	ingresses    [2]*proc
	ingressURLs  [2]string
	ingressAddrs [2]string
	adminURLs    [2]string // the ingresses' probes and metrics

	gcsDown atomic.Bool // the GCS emulator answers 503 to everything

	idleLatency time.Duration // POST to completion of one small video, idle

	mu  sync.Mutex
	all []*notification
}

// figures are what the test measured, printed at the end.
type figures struct {
	lines []string
}

func (f *figures) add(format string, args ...any) {
	f.lines = append(f.lines, fmt.Sprintf(format, args...))
}

// TestProductionTopologyUnderFaults starts the topology, proves each fault
// happened while videos were in flight and that the system recovered, sends
// the load, then checks every promise made along the way. The phases run
// in order on one topology: each fault finds the state the one before left.
func TestProductionTopologyUnderFaults(t *testing.T) {
	testStart := time.Now()
	tp := startTopology(t)
	t.Logf("topology up in %s (after the build)", fmtDur(time.Since(tp.startedAt())))
	sent := time.Now()
	tp.idleLatency = tp.probe(t, "idle-probe").Sub(sent)
	t.Logf("one notification on the idle topology: completed %s after it was sent", fmtDur(tp.idleLatency))
	var fig figures

	for _, phase := range []struct {
		name string
		run  func(*testing.T, *figures)
	}{
		{"SIGKILL a worker mid-video", tp.workerKilledMidVideo},
		{"restart the Temporal server mid-transfer", tp.temporalRestartedMidTransfer},
		{"restart PostgreSQL mid-transfer", tp.postgresRestartedMidTransfer},
		{fmt.Sprintf("Temporal down: %d notifications queued, then drained", queuedNotifications), tp.queuedWhileTemporalIsDown},
		{fmt.Sprintf("%d notifications across both ingresses", loadNotifications), tp.fiveHundredNotifications},
		{"verify every promise", tp.verifyEverything},
	} {
		started := time.Now()
		phase.run(t, &fig)
		if t.Failed() {
			t.Fatalf("phase %q failed", phase.name)
		}
		t.Logf("phase %q done in %s", phase.name, fmtDur(time.Since(started)))
	}

	fig.add("whole test: %s (build included)", fmtDur(time.Since(testStart)))
	t.Logf("FIGURES\n  %s", strings.Join(fig.lines, "\n  "))
}

func (tp *topology) startedAt() time.Time { return tp.bins.builtAt }
