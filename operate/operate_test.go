package operate_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/wochit-ingest/wochit-ingest/contract"
	"github.com/wochit-ingest/wochit-ingest/devstack"
	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
	"github.com/wochit-ingest/wochit-ingest/internal/payloadcodec"
	"github.com/wochit-ingest/wochit-ingest/operate"
	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// backend is the customer's callback endpoint: unreachable (nothing listens
// on its port) until up is called, then it records every callback.
type backend struct {
	addr string
	mu   sync.Mutex
	got  map[string][]string // wochitVideoId → webhook-ids received
	srv  *http.Server
}

func newBackend(t *testing.T) *backend {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{addr: l.Addr().String(), got: map[string][]string{}}
	l.Close() // connection refused until up
	return b
}

func (b *backend) url() string { return "http://" + b.addr + "/hooks" }

func (b *backend) up(t *testing.T) {
	l, err := net.Listen("tcp", b.addr)
	if err != nil {
		t.Fatalf("the callback endpoint cannot come back on %s: %v", b.addr, err)
	}
	b.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev contract.Event
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &ev); err != nil {
			http.Error(w, "bad event", http.StatusBadRequest)
			return
		}
		b.mu.Lock()
		b.got[ev.Data.WochitVideoID] = append(b.got[ev.Data.WochitVideoID], r.Header.Get("webhook-id")+" "+string(ev.Type))
		b.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})}
	go b.srv.Serve(l)
	t.Cleanup(func() { b.srv.Close() })
}

func (b *backend) of(video string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.got[video])
}

var shortSchedule = []time.Duration{0, 100 * time.Millisecond, 100 * time.Millisecond, 100 * time.Millisecond}

type fixture struct {
	stack   *devstack.Stack
	origin  *mediaorigin.Origin
	backend *backend
	opts    operate.Options
}

// Stored media and failing media (404), every callback unreachable: the
// operator's morning after an outage.
var (
	storedVideos  = []string{"ops-stored-1", "ops-stored-2"}
	missingVideos = []string{"ops-missing-1", "ops-missing-2"}
)

func start(t *testing.T) *fixture {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: starts a Temporal server; run without -short")
	}
	origin := mediaorigin.New()
	originServer := httptest.NewServer(origin)
	t.Cleanup(originServer.Close)
	b := newBackend(t)
	stack, err := devstack.Start(context.Background(), devstack.Options{
		DataDir:      t.TempDir(),
		TemporalAddr: "127.0.0.1:0", GCSAddr: "127.0.0.1:0", IngressAddr: "127.0.0.1:0", DevAddr: "127.0.0.1:0",
		CallbackURL:       b.url(),
		CallbackSchedule:  shortSchedule,
		WorkerStopTimeout: 200 * time.Millisecond,
		Logger:            slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stack.Stop(context.Background()) })
	f := &fixture{stack: stack, origin: origin, backend: b, opts: operate.Options{Namespace: devstack.Namespace, DataConverter: stack.DataConverter}}

	var runs [][2]string
	for _, v := range append(slices.Clone(storedVideos), missingVideos...) {
		if slices.Contains(storedVideos, v) {
			origin.Put("/"+v+"/v.mp4", mediaorigin.File{Body: mediaorigin.Video(v, 64<<10), ContentType: "video/mp4"})
			origin.Put("/"+v+"/t.png", mediaorigin.File{Body: mediaorigin.Thumbnail(v, 16, 16), ContentType: "image/png"})
		}
		in := workflows.IngestInput{Notification: contract.Notification{
			VideoContext: "ctx-" + v, WochitVideoID: v, Title: "Title of " + v,
			VideoURL: originServer.URL + "/" + v + "/v.mp4?token=secret", ThumbnailURL: originServer.URL + "/" + v + "/t.png?token=secret",
		}, ReceivedAt: time.Now(), CallbackSchedule: shortSchedule}
		runID, started, err := workflows.StartIngest(context.Background(), stack.Client, workflows.StartOptions{Namespace: devstack.Namespace, DataConverter: stack.DataConverter}, in)
		if err != nil || !started {
			t.Fatalf("starting %s: %v", v, err)
		}
		runs = append(runs, [2]string{workflows.WorkflowID(v), runID})
	}
	for _, r := range runs {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		err := stack.Client.GetWorkflow(ctx, r[0], r[1]).Get(ctx, nil)
		cancel()
		if err == nil {
			t.Fatalf("%s completed; the callback endpoint was down, want it failed", r[0])
		}
	}
	return f
}

func ids(runs []operate.Run) []string {
	var s []string
	for _, r := range runs {
		s = append(s, r.WochitVideoID)
	}
	slices.Sort(s)
	return s
}

// One stack, the runs of an outage, and the operator's commands in order:
// list finds exactly the failed runs by reason, status shows the reason and
// every attempt in clear, a missing or wrong key is its own error, and batch
// redeliver after the endpoint recovers delivers each video once without
// downloading its stored files again.
//
// Mutations (each fails the subtest named):
//   - FailureReason not upserted (operatorView.stage): "list" finds nothing;
//   - Filter.Query ignoring Reason: "list" gets all four for each reason;
//   - Status not reading callback attempts from history: "status" 0 attempts;
//   - IsKeyError returning false: "keys" gets a decode error, not *KeyError;
//   - Follow without CheckKeys and the IsKeyError check: "follow" reports
//     the completed run as failed (ErrIngestFailed, the bug of issue 21);
//   - RedeliverBatch without the confirmation: "redeliver" redelivers on "n";
//   - List keeping superseded runs: "redeliver" lists the replaced runs again.
func TestOperatorCommandsAfterAnOutage(t *testing.T) {
	f := start(t)
	ctx := context.Background()

	t.Run("list", func(t *testing.T) {
		for _, c := range []struct {
			filter operate.Filter
			want   []string
		}{
			{operate.Filter{Failed: true, Reason: contract.OriginNotFound}, missingVideos},
			{operate.Filter{Failed: true, Reason: contract.CallbackExhausted}, storedVideos},
			{operate.Filter{Callback: workflows.CallbackExhausted}, append(slices.Clone(missingVideos), storedVideos...)},
			{operate.Filter{Failed: true, Context: "ctx-ops-stored-2"}, []string{"ops-stored-2"}},
			{operate.Filter{Stage: workflows.StageCompleted}, nil},
			{operate.Filter{Context: `it's "quoted" \ here`}, nil}, // the server parses the escaped literal
			{operate.Filter{Failed: true, Since: time.Now().Add(time.Hour)}, nil},
			{operate.Filter{Failed: true, Until: time.Now().Add(-time.Hour)}, nil},
		} {
			runs, err := operate.List(ctx, f.stack.Client, f.opts, c.filter, 0)
			if err != nil {
				t.Fatal(err)
			}
			want := slices.Sorted(slices.Values(c.want))
			if got := ids(runs); !slices.Equal(got, want) {
				q, _ := c.filter.Query()
				t.Errorf("%s: got %v, want %v", q, got, want)
			}
		}
		if _, err := (operate.Filter{Reason: "NoSuchReason"}).Query(); err == nil || !strings.Contains(err.Error(), "OriginNotFound") {
			t.Errorf("an unknown reason: %v, want an error listing the reasons", err)
		}
		var table bytes.Buffer
		runs, _ := operate.List(ctx, f.stack.Client, f.opts, operate.Filter{Failed: true}, 0)
		operate.WriteList(&table, runs)
		if !strings.Contains(table.String(), "ops-missing-1") || !strings.Contains(table.String(), "OriginNotFound") || !strings.Contains(table.String(), "4 run(s)") {
			t.Errorf("table:\n%s", table.String())
		}
	})

	t.Run("status", func(t *testing.T) {
		r, err := operate.Status(ctx, f.stack.Client, f.opts, "ops-stored-1")
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != "Failed" || r.Reason != contract.CallbackExhausted || r.Stage != workflows.StageFailed || r.Title != "Title of ops-stored-1" {
			t.Errorf("report %+v, want Failed, CallbackExhausted, stage failed, the title in clear", r)
		}
		if r.Video.Stored == nil || !strings.HasPrefix(r.Video.Stored.URI, "gs://") || r.Video.Stored.CRC32C == "" || r.Video.Stored.Size != 64<<10 ||
			r.Thumbnail.Stored == nil || r.Thumbnail.Stored.URI == "" {
			t.Errorf("files %+v %+v, want both stored with size and checksum", r.Video, r.Thumbnail)
		}
		if r.Callback.EventType != contract.VideoStored || r.Callback.State != workflows.CallbackExhausted || len(r.Callback.Attempts) != len(shortSchedule) {
			t.Fatalf("callback %+v, want %d attempts of video.stored, exhausted", r.Callback, len(shortSchedule))
		}
		for _, a := range r.Callback.Attempts {
			if a.At.IsZero() || !strings.Contains(a.Error, "refused") {
				t.Errorf("attempt %+v: want its time and the connection refused", a)
			}
		}
		if r.Deadlines.Video.IsZero() || r.ReceivedAt.IsZero() {
			t.Errorf("deadlines %+v received %s", r.Deadlines, r.ReceivedAt)
		}
		var text bytes.Buffer
		if err := operate.WriteStatus(&text, r); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"CallbackExhausted", "attempt 4", "refused", r.Video.Stored.URI, r.Video.Stored.CRC32C, "Title of ops-stored-1"} {
			if !strings.Contains(text.String(), want) {
				t.Errorf("status text lacks %q:\n%s", want, text.String())
			}
		}

		m, err := operate.Status(ctx, f.stack.Client, f.opts, "ops-missing-1")
		if err != nil {
			t.Fatal(err)
		}
		if m.Reason != contract.OriginNotFound || !strings.Contains(m.Failure, "404") || m.Video.Stored != nil || m.Callback.EventType != contract.VideoFailed {
			t.Errorf("report %+v, want OriginNotFound (404), nothing stored, video.failed", m)
		}

		var unknown *operate.UnknownVideoError
		if _, err := operate.Status(ctx, f.stack.Client, f.opts, "no-such-video"); !errors.As(err, &unknown) {
			t.Errorf("an unknown id: %v, want *UnknownVideoError", err)
		}
	})

	// A client as an operator's laptop has it: its own connection, its own
	// keys or none.
	dial := func(t *testing.T, keys string) (client.Client, operate.Options) {
		o := client.Options{HostPort: f.stack.TemporalAddr, Namespace: devstack.Namespace, Logger: sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))}
		opts := operate.Options{Namespace: devstack.Namespace}
		if keys != "" {
			ring, err := payloadcodec.ParseKeyring(keys)
			if err != nil {
				t.Fatal(err)
			}
			o.DataConverter, o.FailureConverter = payloadcodec.DataConverter(ring), payloadcodec.FailureConverter(ring)
			opts.DataConverter = o.DataConverter
		}
		c, err := client.Dial(o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return c, opts
	}
	otherKey := payloadcodec.GenerateKey()

	t.Run("keys", func(t *testing.T) {
		for _, c := range []struct {
			name, keys string
			noKeys     bool
		}{{"none", "", true}, {"wrong", otherKey, false}} {
			cl, opts := dial(t, c.keys)
			_, err := operate.Status(ctx, cl, opts, "ops-stored-1")
			var ke *operate.KeyError
			if !errors.As(err, &ke) || ke.NoKeys != c.noKeys || !strings.Contains(err.Error(), "PAYLOAD_KEYS") {
				t.Errorf("%s keys: status = %v, want a *KeyError (NoKeys %v) naming PAYLOAD_KEYS", c.name, err, c.noKeys)
			}
		}
	})

	f.backend.up(t) // the endpoint recovers, for the rest of the test
	t.Run("redeliver", func(t *testing.T) {
		filter := operate.Filter{Failed: true, Reason: contract.CallbackExhausted}
		var out bytes.Buffer
		_, err := operate.RedeliverBatch(ctx, f.stack.Client, f.opts, filter, operate.BatchOptions{In: strings.NewReader("n\n"), Out: &out, Rate: 50})
		if !errors.Is(err, operate.ErrNotConfirmed) || !strings.Contains(out.String(), "2 video(s)") {
			t.Fatalf("answered n: %v\n%s", err, out.String())
		}
		for _, v := range storedVideos {
			if got := f.backend.of(v); len(got) != 0 {
				t.Fatalf("%s got %v although the batch was not confirmed", v, got)
			}
		}

		downloads := map[string]int{}
		for _, v := range storedVideos {
			downloads[v] = f.origin.Stats("/"+v+"/v.mp4").Requests + f.origin.Stats("/"+v+"/t.png").Requests
		}
		out.Reset()
		const rate = 4
		began := time.Now()
		results, err := operate.RedeliverBatch(ctx, f.stack.Client, f.opts, filter, operate.BatchOptions{In: strings.NewReader("y\n"), Out: &out, Rate: rate})
		if err != nil {
			t.Fatalf("%v\n%s", err, out.String())
		}
		if took := time.Since(began); took < time.Second/rate {
			t.Errorf("two redeliveries at %d/s took %s, want at least %s", rate, took, time.Second/rate)
		}
		if len(results) != 2 || !strings.Contains(out.String(), "[2/2]") {
			t.Fatalf("results %+v\n%s", results, out.String())
		}
		for _, res := range results {
			if res.Result.Action != workflows.RedeliverRestarted {
				t.Errorf("%s: %+v, want restarted", res.WochitVideoID, res)
			}
			ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			err := f.stack.Client.GetWorkflow(ctx, res.Result.WorkflowID, res.Result.RunID).Get(ctx, nil)
			cancel()
			if err != nil {
				t.Fatalf("the re-run of %s: %v", res.WochitVideoID, err)
			}
		}
		for _, v := range storedVideos {
			if got := f.backend.of(v); len(got) != 1 || !strings.HasSuffix(got[0], string(contract.VideoStored)) {
				t.Errorf("%s: the recovered endpoint got %v, want video.stored once", v, got)
			}
			if now := f.origin.Stats("/"+v+"/v.mp4").Requests + f.origin.Stats("/"+v+"/t.png").Requests; now != downloads[v] {
				t.Errorf("%s: the origin saw %d requests during the redelivery, want none (its files are stored)", v, now-downloads[v])
			}
		}
		// The failed runs are history now: list shows each video's latest run.
		if runs, err := operate.List(ctx, f.stack.Client, f.opts, filter, 0); err != nil || len(runs) != 0 {
			t.Errorf("after the redelivery, list = %v, %v; want none", ids(runs), err)
		}
		filter.AllRuns = true
		if runs, err := operate.List(ctx, f.stack.Client, f.opts, filter, 0); err != nil || len(runs) != 2 || runs[0].SupersededByID == "" {
			t.Errorf("with AllRuns, list = %+v, %v; want the two replaced runs", runs, err)
		}
		// Again: nothing left to redeliver.
		out.Reset()
		if results, err := operate.RedeliverBatch(ctx, f.stack.Client, f.opts, operate.Filter{Failed: true, Reason: contract.CallbackExhausted}, operate.BatchOptions{Yes: true, Out: &out, Rate: 50}); err != nil || len(results) != 0 {
			t.Errorf("a second batch: %v, %v\n%s", results, err, out.String())
		}
	})

	// A run that is copying: status shows the file's bytes so far, its total
	// and the attempt (from the pending activity's heartbeat). Mutation:
	// Status not reading the pending activities → "no progress" timeout.
	t.Run("status while copying", func(t *testing.T) {
		const v, size = "ops-copying", 4 << 20
		pause := make(chan struct{})
		f.origin.Put("/"+v+"/v.mp4", mediaorigin.File{Body: mediaorigin.Video(v, size), ContentType: "video/mp4", Pause: pause, PauseAfter: 1 << 20})
		f.origin.Put("/"+v+"/t.png", mediaorigin.File{Body: mediaorigin.Thumbnail(v, 16, 16), ContentType: "image/png"})
		in, err := operate.CheckKeys(ctx, f.stack.Client, f.opts, workflows.WorkflowID(storedVideos[0]), "")
		if err != nil {
			t.Fatal(err)
		}
		base := strings.TrimSuffix(in.Notification.VideoURL, "/"+storedVideos[0]+"/v.mp4?token=secret")
		n := contract.Notification{VideoContext: "ctx-" + v, WochitVideoID: v, Title: "Title of " + v,
			VideoURL: base + "/" + v + "/v.mp4", ThumbnailURL: base + "/" + v + "/t.png"}
		runID, _, err := workflows.StartIngest(ctx, f.stack.Client, workflows.StartOptions{Namespace: devstack.Namespace, DataConverter: f.stack.DataConverter},
			workflows.IngestInput{Notification: n, ReceivedAt: time.Now(), CallbackSchedule: shortSchedule})
		if err != nil {
			t.Fatal(err)
		}
		var r operate.Report
		deadline := time.Now().Add(time.Minute)
		for r.Video.Progress == nil || r.Video.Progress.Bytes == 0 {
			if time.Now().After(deadline) {
				close(pause)
				t.Fatalf("no progress in status after a minute: %+v", r.Video)
			}
			time.Sleep(50 * time.Millisecond) // polling the server's view: there is no event to wait on
			if r, err = operate.Status(ctx, f.stack.Client, f.opts, v); err != nil {
				close(pause)
				t.Fatal(err)
			}
		}
		close(pause)
		if r.Status != "Running" || r.Stage != workflows.StageTransferring || r.Video.Progress.Total != size || r.Video.Attempt != 1 || r.Video.Stored != nil {
			t.Errorf("report while copying: %s %s %+v %+v", r.Status, r.Stage, r.Video, r.Video.Progress)
		}
		var text bytes.Buffer
		operate.WriteStatus(&text, r)
		if !strings.Contains(text.String(), fmt.Sprintf("/ %d bytes", size)) {
			t.Errorf("status text while copying:\n%s", text.String())
		}
		wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		if err := f.stack.Client.GetWorkflow(wctx, workflows.WorkflowID(v), runID).Get(wctx, nil); err != nil {
			t.Fatalf("the run: %v", err)
		}
	})

	t.Run("follow", func(t *testing.T) {
		// The bug of issue 21: `send --demo --wait` without the keys said
		// "✗ failed … payload encoding is not supported" of a completed run.
		var out bytes.Buffer
		for _, c := range []struct{ name, keys string }{{"none", ""}, {"wrong", otherKey}} {
			cl, opts := dial(t, c.keys)
			out.Reset()
			err := operate.FollowVideo(ctx, cl, opts, "ops-stored-1", &out)
			var ke *operate.KeyError
			if !errors.As(err, &ke) || strings.Contains(out.String(), "failed") {
				t.Errorf("%s keys: follow = %v\n%s\nwant a *KeyError and no verdict on the run", c.name, err, out.String())
			}
		}
		out.Reset()
		if err := operate.FollowVideo(ctx, f.stack.Client, f.opts, "ops-stored-1", &out); err != nil || !strings.Contains(out.String(), "✓ stored") {
			t.Errorf("follow with the keys = %v\n%s", err, out.String())
		}
		out.Reset()
		if err := operate.FollowVideo(ctx, f.stack.Client, f.opts, "ops-missing-1", &out); !errors.Is(err, operate.ErrIngestFailed) {
			t.Errorf("follow of a failed run = %v\n%s", err, out.String())
		}
	})
}
