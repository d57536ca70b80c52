package inbox_test

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/temporaltest"
	"google.golang.org/grpc"

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

// startGate is a unary interceptor on a real Temporal client that holds each
// StartWorkflowExecution until target of them are in flight at once (or
// release passes: then every start goes through), and records the most in
// flight and the order the starts arrived in: a Temporal that starts slowly.
type startGate struct {
	target  int
	release time.Duration

	mu          sync.Mutex
	inFlight    int
	maxInFlight int
	order       []string // workflow ids
	open        chan struct{}
	once        sync.Once
}

func newStartGate(target int, release time.Duration) *startGate {
	return &startGate{target: target, release: release, open: make(chan struct{})}
}

func (g *startGate) intercept(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	start, ok := req.(*workflowservice.StartWorkflowExecutionRequest)
	if !ok {
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	g.mu.Lock()
	g.inFlight++
	g.maxInFlight = max(g.maxInFlight, g.inFlight)
	g.order = append(g.order, start.GetWorkflowId())
	if g.inFlight >= g.target {
		g.once.Do(func() { close(g.open) })
	}
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.inFlight--
		g.mu.Unlock()
	}()
	select {
	case <-g.open:
	case <-time.After(g.release):
		g.once.Do(func() { close(g.open) })
	case <-ctx.Done():
		return ctx.Err()
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}

// A pass starts several notifications at once: with 30 waiting and a
// Temporal that holds every start until 8 are in flight, the pass gets 8 in
// flight, and still starts each once and empties the inbox. One at a time,
// 200 queued notifications took 39 s to drain with 2 workers.
//
// Mutation: Concurrency 1 in Drainer.Pass (sem of one slot) → "at most 1
// starts in flight at once, want 8" (after the gate's 3 s release).
func TestPassStartsNotificationsConcurrently(t *testing.T) {
	ts := temporal(t)
	ctx := context.Background()
	b, opts, c, gate, fresh := slowTemporalInbox(t, ts, 30, newStartGate(8, 3*time.Second))
	d := &inbox.Drainer{Inbox: b, Temporal: c, Start: opts, PageSize: 500}
	res, err := d.Pass(ctx)
	if err != nil || res.Stopped != nil {
		t.Fatalf("pass: %v / %v", err, res.Stopped)
	}
	gate.mu.Lock()
	maxInFlight := gate.maxInFlight
	gate.mu.Unlock()
	if maxInFlight < gate.target {
		t.Errorf("at most %d starts in flight at once, want %d", maxInFlight, gate.target)
	}
	if maxInFlight > inbox.DefaultConcurrency {
		t.Errorf("%d starts in flight at once, more than DefaultConcurrency %d", maxInFlight, inbox.DefaultConcurrency)
	}
	if res.Started != len(fresh) || res.Left != 0 {
		t.Errorf("pass: %+v, want %d started and none left", res, len(fresh))
	}
	if got := entries(t, b); len(got) != 0 {
		t.Errorf("inbox after the pass: %v", got)
	}
}

// Drainers passing at once walk a page in different orders, so they do not
// take the same notifications one after the other: one drainer starting one
// at a time does not follow the listing's (name) order.
//
// Mutation: dropping the rand.Shuffle in pass.page → "starts followed the
// listing's order".
func TestPassTakesAPageInARandomOrder(t *testing.T) {
	ts := temporal(t)
	ctx := context.Background()
	b, opts, c, gate, fresh := slowTemporalInbox(t, ts, 30, newStartGate(1, time.Second))
	listed := entries(t, b)
	d := &inbox.Drainer{Inbox: b, Temporal: c, Start: opts, Concurrency: 1}
	if res, err := d.Pass(ctx); err != nil || res.Started != len(fresh) {
		t.Fatalf("pass: %+v %v", res, err)
	}
	gate.mu.Lock()
	order := slices.Clone(gate.order)
	gate.mu.Unlock()
	var inNameOrder []string
	for _, e := range listed {
		id := strings.TrimPrefix(e.Name, b.Prefix)
		inNameOrder = append(inNameOrder, workflows.WorkflowID(id[:strings.LastIndex(id, ".")]))
	}
	if len(order) != len(inNameOrder) {
		t.Fatalf("%d starts for %d entries: %v", len(order), len(inNameOrder), order)
	}
	if slices.Equal(order, inNameOrder) {
		t.Errorf("starts followed the listing's order (1 chance in 30! if shuffled): %v", order)
	}
}

// slowTemporalInbox puts n fresh notifications in a new inbox and returns a
// client of ts whose starts pass through gate.
func slowTemporalInbox(t *testing.T, ts *temporaltest.TestServer, n int, gate *startGate) (*inbox.Inbox, workflows.StartOptions, client.Client, *startGate, []workflows.IngestInput) {
	t.Helper()
	ctx := context.Background()
	dc := testConverter(t)
	b := inbox.New(newGCS(t), testBucket, "videos/.inbox/", dc)
	ns := ts.GetDefaultNamespace()
	opts := workflows.StartOptions{Namespace: ns, DataConverter: dc, Identity: "inbox test"}
	suffix := strings.ReplaceAll(t.Name(), "/", "-") + time.Now().Format("150405.000000")
	var fresh []workflows.IngestInput
	for i := range n {
		in := input(fmt.Sprintf("%02d-%s", i, suffix), "t", time.Now())
		if _, err := b.Put(ctx, in); err != nil {
			t.Fatal(err)
		}
		fresh = append(fresh, in)
	}
	c := ts.NewClientWithOptions(client.Options{Namespace: ns, DataConverter: dc, ConnectionOptions: client.ConnectionOptions{
		DialOptions: []grpc.DialOption{grpc.WithChainUnaryInterceptor(gate.intercept)},
	}})
	return b, opts, c, gate, fresh
}

// One entry whose start Temporal refuses for a reason of its own (here an
// InvalidArgument for that one workflow id) is left in place, counted, and
// does not stop the pass: the entries after it start in the same pass.
// Mutation: returning the start error from drainOne as before (every error
// stopped the pass) → "pass stopped by ... want it to go on".
func TestOneRefusedStartDoesNotHoldBackTheRest(t *testing.T) {
	ts := temporal(t)
	ctx := context.Background()
	gate := newStartGate(1, time.Second)
	b, opts, _, _, fresh := slowTemporalInbox(t, ts, 6, gate)
	poisoned := workflows.WorkflowID(fresh[0].Notification.WochitVideoID)
	refuse := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if start, ok := req.(*workflowservice.StartWorkflowExecutionRequest); ok && start.GetWorkflowId() == poisoned {
			return serviceerror.NewInvalidArgument("refused for this notification alone")
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	c := ts.NewClientWithOptions(client.Options{Namespace: opts.Namespace, DataConverter: opts.DataConverter, ConnectionOptions: client.ConnectionOptions{
		DialOptions: []grpc.DialOption{grpc.WithChainUnaryInterceptor(refuse)},
	}})
	reg := prometheus.NewRegistry()
	d := &inbox.Drainer{Inbox: b, Temporal: c, Start: opts, Concurrency: 1, Metrics: inbox.NewMetrics(reg)}
	res, err := d.Pass(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Stopped != nil {
		t.Fatalf("pass stopped by %v (%+v); want it to go on past a refusal of one notification", res.Stopped, res)
	}
	if res.Started != len(fresh)-1 || res.Failed != 1 || res.Left != 1 {
		t.Fatalf("pass %+v: want %d started, 1 failed and left", res, len(fresh)-1)
	}
	if n := len(entries(t, b)); n != 1 {
		t.Fatalf("the inbox holds %d entries, want the refused one only", n)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	failed := -1.0
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if f.GetName() == "wochit_inbox_drained_total" && l.GetName() == "result" && l.GetValue() == "failed" {
					failed = m.GetCounter().GetValue()
				}
			}
		}
	}
	if failed != 1 {
		t.Errorf(`wochit_inbox_drained_total{result="failed"} = %v, want 1`, failed)
	}
}
