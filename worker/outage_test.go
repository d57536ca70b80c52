package worker_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/wochit-ingest/wochit-ingest/activities"
	"github.com/wochit-ingest/wochit-ingest/contract"
	"github.com/wochit-ingest/wochit-ingest/devstack"
	"github.com/wochit-ingest/wochit-ingest/devstack/devstacktest"
	"github.com/wochit-ingest/wochit-ingest/devstack/gcsemu"
	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
	"github.com/wochit-ingest/wochit-ingest/internal/payloadcodec"
	"github.com/wochit-ingest/wochit-ingest/internal/safehttp"
	"github.com/wochit-ingest/wochit-ingest/internal/webhook"
	"github.com/wochit-ingest/wochit-ingest/worker"
	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// outage is how long the worker cannot reach Temporal: the 30 s README
// promises to ride out.
const outage = 30 * time.Second

// A worker that cannot reach Temporal for 30 s in the middle of a video its
// origin serves in one stream (no ranges: nothing could resume) keeps the
// attempt: the origin is asked for the video once and sends it once, the
// attempt that started it completes it, and the stored object is the
// origin's. Temporal itself keeps running, so its heartbeat timeout counts
// through the whole outage.
//
// Mutation: ClientOptions returning opts unchanged (no patient heartbeats)
// fails it — the SDK cancels the attempt ~3 s into the outage, and the
// retry after the heartbeat timeout asks the origin for the video again.
func TestTemporalOutageDoesNotRestartATransfer(t *testing.T) {
	devstacktest.EndToEnd(t) // and waits out a 30 s outage
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	stack := devstacktest.Start(t, devstacktest.Quiet, func(o *devstack.Options) { o.NoWorker = true })
	proxy := newTCPProxy(t, stack.TemporalAddr)

	origin := mediaorigin.New()
	originServer := httptest.NewServer(origin)
	defer originServer.Close()
	// 6 MiB at 128 KiB/s: about 48 s, so the stream spans the outage.
	video := mediaorigin.Video("outage", 6<<20)
	origin.Put("/v.mp4", mediaorigin.File{Body: video, ContentType: "video/mp4", NoRanges: true, BytesPerSecond: 128 << 10})
	origin.Put("/t.png", mediaorigin.File{Body: mediaorigin.Thumbnail("outage", 16, 16), ContentType: "image/png"})
	callbacks := devstacktest.NewReceiver(t)
	secret, err := webhook.ParseSecret(devstacktest.Secret)
	if err != nil {
		t.Fatal(err)
	}

	// The worker reaches Temporal only through the proxy; the ingress and
	// the test do not.
	keys, err := payloadcodec.ParseKeyring(stack.PayloadKeys)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Dial(worker.ClientOptions(client.Options{
		HostPort: proxy.addr, Namespace: devstack.Namespace, Logger: sdklog.NewStructuredLogger(quiet),
		DataConverter: stack.DataConverter, FailureConverter: payloadcodec.FailureConverter(keys),
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- worker.Run(ctx, worker.Config{
			Namespace: devstack.Namespace, StopTimeout: time.Second,
			Bucket: stack.Bucket, Prefix: stack.Prefix, StorageEndpoint: stack.GCSURL,
			CallbackURL: callbacks.URL, CallbackSecrets: []webhook.Secret{secret},
			Origins:   safehttp.Policy{AllowPrivate: true, AllowAnyPort: true},
			Callbacks: safehttp.Policy{AllowPrivate: true, AllowAnyPort: true},
			Transfer:  activities.TransferSettings{ChunkSize: 256 << 10},
			Logger:    quiet,
		}, c)
	}()
	defer func() { stop(); <-done }()

	body := `{"videoContext":"c","wochitVideoId":"outage-1","title":"t","videoUrl":"` + originServer.URL + `/v.mp4","thumbnailUrl":"` + originServer.URL + `/t.png"}`
	resp, err := http.Post(stack.IngressURL+"/webhooks/wochit", "application/json", strings.NewReader(body))
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST: %v %v", err, resp)
	}
	resp.Body.Close()

	devstacktest.WaitFor(t, time.Minute, "the video to be streaming", func() bool { return origin.Stats("/v.mp4").BytesSent >= 256<<10 })
	proxy.down()
	sentAtDown := origin.Stats("/v.mp4").BytesSent
	time.Sleep(outage) // the outage itself, not a synchronisation
	sentDuring := origin.Stats("/v.mp4").BytesSent - sentAtDown
	proxy.up(t)
	if sentDuring == 0 {
		t.Fatal("no video bytes flowed while Temporal was unreachable: the outage hit no transfer")
	}

	ev := callbacks.Next(3 * time.Minute).Event
	if ev.Type != contract.VideoStored {
		t.Fatalf("event = %+v", ev)
	}
	gcs, err := gcsemu.NewClient(context.Background(), stack.GCSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer gcs.Close()
	if got := readObject(t, gcs, stack.Bucket, ev.Data.Video.Name); !bytes.Equal(got, video) {
		t.Fatalf("the stored video (%d bytes) differs from the origin's (%d bytes)", len(got), len(video))
	}
	// The origin's request log: one request, the file sent once.
	if reqs, s := origin.Requests("/v.mp4"), origin.Stats("/v.mp4"); len(reqs) != 1 || s.BytesSent != int64(len(video)) {
		t.Fatalf("the origin got %d requests for the video and sent %d bytes of its %d; want 1 request, the file once (%d bytes flowed during the outage)",
			len(reqs), s.BytesSent, len(video), sentDuring)
	}
	// No attempt was cancelled: every activity the run started completed on
	// its first attempt.
	it := stack.Client.GetWorkflowHistory(context.Background(), workflows.WorkflowID("outage-1"), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := e.GetActivityTaskStartedEventAttributes(); a != nil && a.GetAttempt() != 1 {
			t.Fatalf("event %d: an activity started attempt %d; want every attempt the first", e.GetEventId(), a.GetAttempt())
		}
	}
	t.Logf("%d KiB of video flowed while the worker could not reach Temporal for %s; stored in one attempt", sentDuring>>10, outage)
}

func readObject(t *testing.T, gcs *storage.Client, bucket, name string) []byte {
	t.Helper()
	r, err := gcs.Bucket(bucket).Object(name).NewReader(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tcpProxy forwards a loopback port to target. down makes Temporal
// unreachable as an outage does: every connection through it is cut and new
// ones are refused, until up listens on the same port again.
type tcpProxy struct {
	addr, target string

	mu    sync.Mutex
	l     net.Listener
	conns map[net.Conn]struct{}
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{addr: l.Addr().String(), target: target, l: l, conns: map[net.Conn]struct{}{}}
	go p.serve(l)
	t.Cleanup(p.down)
	return p
}

func (p *tcpProxy) serve(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go p.pipe(l, c)
	}
}

func (p *tcpProxy) pipe(l net.Listener, c net.Conn) {
	u, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.l != l { // went down meanwhile
		p.mu.Unlock()
		c.Close()
		u.Close()
		return
	}
	p.conns[c], p.conns[u] = struct{}{}, struct{}{}
	p.mu.Unlock()
	go func() { io.Copy(u, c); u.Close() }()
	io.Copy(c, u)
	c.Close()
}

func (p *tcpProxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.l != nil {
		p.l.Close()
		p.l = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *tcpProxy) up(t *testing.T) {
	l, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.l = l
	p.mu.Unlock()
	go p.serve(l)
}
