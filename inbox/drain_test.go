package inbox_test

import (
	"context"
	"flag"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/temporaltest"

	"github.com/wochit-ingest/wochit-ingest/inbox"
	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// shared is a real Temporal server with no worker: a started run stays open,
// which is all the drain needs to see. Not started with -short.
var shared *temporaltest.TestServer

func TestMain(m *testing.M) {
	flag.Parse()
	if !testing.Short() {
		shared = temporaltest.NewServer()
	}
	code := m.Run()
	if shared != nil {
		shared.Stop()
	}
	os.Exit(code)
}

func temporal(t *testing.T) *temporaltest.TestServer {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a Temporal server; run without -short")
	}
	return shared
}

// refusedAddr is a loopback address nothing listens on.
func refusedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// While Temporal refuses, a pass starts nothing and deletes nothing, and the
// metrics say what waits. Once Temporal answers, passes (paging two objects
// at a time, two drainers at once, no leader) start every waiting
// notification exactly once with its original receipt, recognise a
// duplicate of a run already started, set a conflicting one aside under
// conflicts/, and leave the inbox empty.
//
// Mutations: deleting the object before the start (swapping the Delete and
// the StartIngest in drainOne) loses the entries during the outage ("after
// a refused pass the inbox holds 0"); deleting conflicts instead of setting
// them aside fails "conflicts/ holds []"; dropping the generation condition
// of Delete lets a drainer delete a rewritten object it never started
// (TestDeleteHoldsToTheGenerationRead).
func TestDrainStartsEachQueuedNotificationOnceAfterTheOutage(t *testing.T) {
	ts := temporal(t)
	ctx := context.Background()
	gcs := newGCS(t)
	dc := testConverter(t)
	b := inbox.New(gcs, testBucket, "videos/.inbox/", dc)
	ns := ts.GetDefaultNamespace()
	opts := workflows.StartOptions{Namespace: ns, DataConverter: dc, Identity: "inbox test"}
	suffix := strings.ReplaceAll(t.Name(), "/", "-") + time.Now().Format("150405.000000")
	receipt := time.Now().Add(-time.Hour).Truncate(time.Second)

	// dup's run was started directly before the outage; conflicting is a
	// different notification for the same video.
	dup := input("dup-"+suffix, "t", receipt)
	conflicting := input("dup-"+suffix, "another title", receipt)
	c := ts.NewClientWithOptions(client.Options{Namespace: ns, DataConverter: dc})
	if _, _, err := workflows.StartIngest(ctx, c, opts, dup); err != nil {
		t.Fatal(err)
	}
	fresh := []workflows.IngestInput{input("a-"+suffix, "t", receipt), input("b-"+suffix, "t", receipt), input("c-"+suffix, "t", receipt)}
	for _, in := range append([]workflows.IngestInput{dup, conflicting}, fresh...) {
		if _, err := b.Put(ctx, in); err != nil {
			t.Fatal(err)
		}
	}

	// Temporal refuses connections.
	down, err := client.NewLazyClient(client.Options{HostPort: refusedAddr(t), Namespace: ns, DataConverter: dc})
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	reg := prometheus.NewRegistry()
	metrics := inbox.NewMetrics(reg)
	now := time.Now()
	d := &inbox.Drainer{Inbox: b, Temporal: down, Start: opts, PageSize: 2, Metrics: metrics, Now: func() time.Time { return now.Add(time.Minute) }}
	res, err := d.Pass(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Stopped == nil || res.Started+res.Duplicates+res.Conflicts != 0 {
		t.Errorf("pass against a refusing Temporal: %+v", res)
	}
	if got := len(entries(t, b)); got != 5 {
		t.Fatalf("after a refused pass the inbox holds %d, want 5", got)
	}
	if got := testutil.ToFloat64(gauge(t, reg, "wochit_inbox_depth")); got != 5 {
		t.Errorf("wochit_inbox_depth %v, want 5", got)
	}
	if got := testutil.ToFloat64(gauge(t, reg, "wochit_inbox_oldest_age_seconds")); got < 59 {
		t.Errorf("wochit_inbox_oldest_age_seconds %v, want about 60", got)
	}

	// Temporal is back: two drainers race over the inbox.
	var wg sync.WaitGroup
	results := make([]inbox.PassResult, 2)
	for i := range results {
		wg.Go(func() {
			d := &inbox.Drainer{Inbox: b, Temporal: c, Start: opts, PageSize: 2, Metrics: metrics}
			r, err := d.Pass(ctx)
			if err != nil || r.Stopped != nil {
				t.Errorf("drainer %d: %v / %v", i, err, r.Stopped)
			}
			results[i] = r
		})
	}
	wg.Wait()
	var started, conflicts int
	for _, r := range results {
		started += r.Started
		conflicts += r.Conflicts
	}
	if started != len(fresh) {
		t.Errorf("runs started by the drainers: %d, want %d (%+v)", started, len(fresh), results)
	}
	if conflicts < 1 {
		t.Errorf("no drainer reported the conflict: %+v", results)
	}
	if got := entries(t, b); len(got) != 0 {
		t.Errorf("inbox after the drain: %v", got)
	}
	if got := names(t, gcs, "videos/.inbox/"+inbox.ConflictsDir); len(got) != 1 || !strings.Contains(got[0], "dup-") {
		t.Errorf("conflicts/ holds %v, want the conflicting notification", got)
	}
	if got := testutil.ToFloat64(gauge(t, reg, "wochit_inbox_depth")); got != 0 {
		t.Errorf("wochit_inbox_depth after the drain %v, want 0", got)
	}
	for _, in := range fresh {
		id := workflows.WorkflowID(in.Notification.WochitVideoID)
		desc, err := c.DescribeWorkflowExecution(ctx, id, "")
		if err != nil {
			t.Fatal(err)
		}
		got, err := workflows.StartedWith(ctx, c, dc, ns, id, desc.GetWorkflowExecutionInfo().GetExecution().GetRunId())
		if err != nil {
			t.Fatal(err)
		}
		if !got.ReceivedAt.Equal(receipt) {
			t.Errorf("%s started with receivedAt %v, want the door's %v", id, got.ReceivedAt, receipt)
		}
	}
}

// A drainer deletes only the generation it read and started: an object
// written again in between (its generation changed) stays.
func TestDeleteHoldsToTheGenerationRead(t *testing.T) {
	ctx := context.Background()
	gcs := newGCS(t)
	b := inbox.New(gcs, testBucket, "videos/.inbox/", testConverter(t))
	name, err := b.Put(ctx, input("g", "t", time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	old := entries(t, b)[0]
	if err := gcs.Bucket(testBucket).Object(name).Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(ctx, input("g", "t", time.Now())); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, old); err != nil {
		t.Fatalf("deleting a stale generation: %v", err)
	}
	if got := entries(t, b); len(got) != 1 {
		t.Errorf("a delete of the old generation removed the new one: %v", got)
	}
}

func gauge(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: "copy"}, func() float64 { return mf.GetMetric()[0].GetGauge().GetValue() })
		}
	}
	t.Fatalf("no metric %s", name)
	return nil
}
