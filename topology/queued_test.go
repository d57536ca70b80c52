//go:build topology

package topology

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"
)

// queuedNotifications are sent while the Temporal server is down.
const queuedNotifications = 200

// queuedWhileTemporalIsDown stops the Temporal server and sends
// queuedNotifications across both ingresses: every answer is 202 queued
// (none 503), the ingresses stay ready (the inbox is writable), their
// /metrics is not on the public port, and with GCS unreachable as well an
// ingress answers 503. The server comes back, the workers drain the inbox:
// every notification is stored (verifyEverything checks each has exactly
// one video.stored id and byte-identical objects) and the inbox ends empty.
// The drain time is a figure (BENCHMARKS.md).
func (tp *topology) queuedWhileTemporalIsDown(t *testing.T, fig *figures) {
	var ns []*notification
	for i := range queuedNotifications {
		id := fmt.Sprintf("queued-%03d", i+1)
		ns = append(ns, tp.newNotification(id, "user-"+id, fmt.Sprintf("Queued %d", i+1), mediaSpec{videoSize: loadVideoSize}))
	}
	oldPID := tp.temporal.proc.pid()
	tp.temporal.kill(t)
	stoppedAt := time.Now()

	started := time.Now()
	tp.deliverAll(t, ns, loadSenders, 2*time.Minute)
	answered := time.Now()
	var via [2]int
	for _, n := range ns {
		h := n.history()
		if len(h) != 1 || h[0].Status != http.StatusAccepted || !h[0].Queued {
			t.Errorf("%s while Temporal was down: answers %+v, want one 202 queued", short(n.WochitVideoID), h)
			continue
		}
		via[h[0].Ingress]++
	}
	if via[0] == 0 || via[1] == 0 {
		t.Errorf("queued answers by ingress 1/2: %d/%d, want both", via[0], via[1])
	}
	if got := tp.inboxObjects(t); len(got) != len(ns) {
		t.Errorf("the inbox holds %d objects while Temporal is down, want %d", len(got), len(ns))
	}
	for i := range 2 {
		if !httpOK(tp.adminURLs[i] + "/readyz") {
			t.Errorf("ingress %d is not ready while Temporal is down and the inbox writable", i+1)
		}
		if resp, err := http.Get(tp.ingressURLs[i] + "/metrics"); err != nil || resp.StatusCode != http.StatusNotFound {
			t.Errorf("ingress %d's public port answers /metrics: %v %v", i+1, err, resp)
		} else {
			resp.Body.Close()
		}
	}

	// GCS unreachable as well: nothing can be made durable.
	tp.gcsDown.Store(true)
	// Not one of tp.all: it is never made durable, so never stored.
	body := []byte(fmt.Sprintf(`{"wochitVideoId":"gcs-down","videoContext":"c","videoUrl":"%[1]s/media/gcs-down/v.mp4","thumbnailUrl":"%[1]s/media/gcs-down/t.png"}`, tp.originURL))
	for i := range 2 {
		resp, err := senderClient.Post(tp.ingressURLs[i]+"/webhooks/wochit", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Errorf("ingress %d with Temporal and GCS down answered %d (Retry-After %q), want 503 with Retry-After", i+1, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	tp.gcsDown.Store(false)

	restartAt := time.Now()
	tp.temporal.start(t)
	servingAt := time.Now()
	if tp.temporal.proc.pid() == oldPID {
		t.Fatalf("the new Temporal server has the old one's pid %d", oldPID)
	}
	storedAt := tp.waitStored(t, ns, 5*time.Minute, fmt.Sprintf("the %d queued videos to be stored", len(ns)))
	emptyAt := waitFor(t, time.Minute, "the inbox to be empty", func() bool { return len(tp.inboxObjects(t)) == 0 })
	if conflicts := tp.objectsUnder(t, prefix+".inbox/conflicts/"); len(conflicts) != 0 {
		t.Errorf("notifications set aside as conflicts: %v", conflicts)
	}
	defer func() { t.Log(fig.lines[len(fig.lines)-1]) }()
	fig.add("Temporal down %s: %d notifications across both ingresses (1/2: %d/%d) all answered 202 queued in %s, none 503, both ingresses ready; with GCS down too: 503; Temporal serving %s after its start; the workers drained the inbox: all %d stored %s after it served, inbox empty %s after",
		fmtDur(servingAt.Sub(stoppedAt)), len(ns), via[0], via[1], fmtDur(answered.Sub(started)), fmtDur(servingAt.Sub(restartAt)),
		len(ns), fmtDur(storedAt.Sub(servingAt)), fmtDur(emptyAt.Sub(servingAt)))
}

// inboxObjects are the notifications waiting in the inbox.
func (tp *topology) inboxObjects(t *testing.T) []string {
	var out []string
	for _, name := range tp.objectsUnder(t, prefix+".inbox/") {
		rest := strings.TrimPrefix(name, prefix+".inbox/")
		if !strings.Contains(rest, "/") {
			out = append(out, name)
		}
	}
	return out
}

func (tp *topology) objectsUnder(t *testing.T, p string) []string {
	var out []string
	it := tp.gcs.Bucket(bucket).Objects(context.Background(), &storage.Query{Prefix: p})
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return out
		}
		if err != nil {
			t.Fatalf("listing %s: %v", p, err)
		}
		out = append(out, a.Name)
	}
}
