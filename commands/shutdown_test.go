package commands

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/wochit-ingest/wochit-ingest/devstack"
	"github.com/wochit-ingest/wochit-ingest/devstack/devstacktest"
	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
)

// SIGTERM during a transfer: the worker stops polling but lets the running
// transfer finish (within WORKER_STOP_TIMEOUT), reports it, and exits 0.
// The transfer is not repeated.
func TestWorkerSIGTERMLetsTheTransferFinish(t *testing.T) {
	devstacktest.EndToEnd(t)
	stack := startStackWithoutWorker(t)
	origin := mediaorigin.New()
	originServer := httptest.NewServer(origin)
	defer originServer.Close()
	video := mediaorigin.Video("sigterm", 3<<20)
	origin.Put("/v.mp4", mediaorigin.File{Body: video, ContentType: "video/mp4", BytesPerSecond: 1 << 20, NoRanges: true})
	origin.Put("/t.png", mediaorigin.File{Body: mediaorigin.Thumbnail("sigterm", 16, 16), ContentType: "image/png"})
	callbacks := devstacktest.NewReceiver(t)
	env := append(workerEnv(stack, originServer.URL, callbacks.URL), "WORKER_STOP_TIMEOUT=60s")

	first := startChild(t, env)
	resp, err := http.Post(stack.IngressURL+"/webhooks/wochit", "application/json", strings.NewReader(fmt.Sprintf(
		`{"videoContext":"c","wochitVideoId":"sigterm-1","title":"t","videoUrl":"%s/v.mp4","thumbnailUrl":"%s/t.png"}`,
		originServer.URL, originServer.URL)))
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST: %v %v", err, resp)
	}
	resp.Body.Close()

	devstacktest.WaitFor(t, time.Minute, "the video transfer to be under way", func() bool { return origin.Stats("/v.mp4").BytesSent >= 512<<10 })
	if err := first.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- first.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("the worker exited with %v after SIGTERM, want 0", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the worker did not exit within its stop timeout")
	}
	if s := origin.Stats("/v.mp4"); s.Completed != 1 {
		t.Fatalf("origin stats %+v: the transfer did not finish before the worker exited", s)
	}

	// The transfer was reported done: the workflow has moved on and no
	// attempt of it is pending.
	desc, err := stack.Client.DescribeWorkflowExecution(context.Background(), "wochit-video-sigterm-1", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, pa := range desc.GetPendingActivities() {
		if pa.GetActivityType().GetName() == "TransferToGCS" && pa.GetState() != enumspb.PENDING_ACTIVITY_STATE_SCHEDULED {
			t.Fatalf("a transfer is still pending after the worker exited: %+v", pa)
		}
	}

	// Another worker finishes the workflow without fetching the video again.
	second := startChild(t, env)
	defer func() { second.Process.Kill(); second.Wait() }()
	if ev := callbacks.Next(time.Minute).Event; ev.Type != contract.VideoStored {
		t.Fatalf("event = %+v", ev)
	}
	if n := origin.Stats("/v.mp4").Requests; n != 1 {
		t.Fatalf("the origin served the video %d times, want once", n)
	}
}

// SIGTERM to an ingress under load: it stops accepting, finishes what is in
// flight and exits 0, and every notification it answered 2xx has its
// workflow in Temporal.
//
// A request that fails is either refused before the ingress accepted it
// (connect refused once the listener is closed, or reset in the listen
// backlog) or cut in flight. Cut ones fail the test: the connection was
// closed after the request was sent and without an answer (EOF), or its
// workflow exists although its sender got no answer. Replacing the graceful
// Shutdown in internal/httpserver (Server.Shutdown, which the ingress's
// srv.Stop calls) with srv.Close() cuts the requests in flight and fails
// here.
func TestIngressSIGTERMUnderLoadLosesNothing(t *testing.T) {
	devstacktest.EndToEnd(t)
	stack := startStackWithoutWorker(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ingress := startChild(t, []string{
		childCommandEnv + "=ingress",
		"TEMPORAL_ADDRESS=" + stack.TemporalAddr, "TEMPORAL_NAMESPACE=" + devstack.Namespace,
		"PAYLOAD_KEYS=" + stack.PayloadKeys,
		"INGRESS_ADDR=" + addr, "INGRESS_ALLOWLIST=off", "INGRESS_ALLOW_HTTP_URLS=true", "ORIGIN_ALLOW_PRIVATE=true",
		"INGRESS_RATE_LIMIT=0", "INGRESS_MAX_CONCURRENT_STARTS=1000", "LOG_LEVEL=warn",
	})
	devstacktest.WaitFor(t, 30*time.Second, "the ingress to be ready", func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	// A new connection per request, so a closed listener shows as refused
	// rather than as a kept-alive connection closing under a request.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}
	var (
		mu                   sync.Mutex
		accepted, unanswered []string
		cut                  []string // id: error
		answered             atomic.Int64
		n                    atomic.Int64
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("load-%d", n.Add(1))
				resp, err := client.Post("http://"+addr+"/webhooks/wochit", "application/json", strings.NewReader(fmt.Sprintf(
					`{"videoContext":"c","wochitVideoId":"%s","videoUrl":"https://media.example.com/v.mp4","thumbnailUrl":"https://media.example.com/t.png"}`, id)))
				if err != nil {
					refused := refusedBeforeAccept(err)
					mu.Lock()
					unanswered = append(unanswered, id)
					if !refused {
						cut = append(cut, fmt.Sprintf("%s: %v", id, err))
					}
					mu.Unlock()
					if refused {
						return // the listener is closed: nothing more to learn
					}
					continue
				}
				resp.Body.Close()
				answered.Add(1)
				if resp.StatusCode/100 == 2 {
					mu.Lock()
					accepted = append(accepted, id)
					mu.Unlock()
				} else {
					t.Errorf("notification %s answered %d", id, resp.StatusCode)
				}
			}
		}()
	}
	devstacktest.WaitFor(t, time.Minute, "load on the ingress", func() bool { return answered.Load() >= 50 })
	if err := ingress.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- ingress.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("the ingress exited with %v after SIGTERM, want 0", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the ingress did not exit after SIGTERM")
	}
	close(stop)
	wg.Wait()

	if len(cut) > 0 {
		t.Errorf("%d requests were cut in flight, e.g. %s", len(cut), cut[0])
	}
	for _, id := range unanswered {
		if _, err := stack.Client.DescribeWorkflowExecution(context.Background(), "wochit-video-"+id, ""); err == nil {
			t.Errorf("notification %s got no answer, yet its workflow was started: it was cut in flight", id)
		}
	}
	for _, id := range accepted {
		if _, err := stack.Client.DescribeWorkflowExecution(context.Background(), "wochit-video-"+id, ""); err != nil {
			t.Fatalf("notification %s was answered 2xx but its workflow does not exist: %v", id, err)
		}
	}
	if len(accepted) < 50 {
		t.Fatalf("only %d notifications were accepted; the test did not load the ingress", len(accepted))
	}
	t.Logf("%d notifications accepted, every one durable; %d unanswered after SIGTERM", len(accepted), len(unanswered))
}

// refusedBeforeAccept reports whether a request failed because the server
// never took its connection: refused once the listener was closed, or reset
// when the listener closed with the connection still in its backlog. Any
// other failure (EOF: the server closed a connection it had read the
// request from) is a request cut in flight.
func refusedBeforeAccept(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)
}
