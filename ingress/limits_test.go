package ingress_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"golang.org/x/time/rate"
	"google.golang.org/grpc"

	"github.com/wochit-ingest/wochit-ingest/ingress"
	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// started counts the videos among ids whose workflow exists on the server.
func started(t *testing.T, c client.Client, ids []string) int {
	t.Helper()
	n := 0
	for _, id := range ids {
		if _, err := c.DescribeWorkflowExecution(context.Background(), workflows.WorkflowID(id), ""); err == nil {
			n++
		}
	}
	return n
}

func TestRateLimitPerSource(t *testing.T) {
	const burst = 3
	// No refill during the test: exactly the burst gets through.
	f := newFixture(t, temporalServer(t), ingress.Config{RateLimit: rate.Every(time.Hour), RateBurst: burst, TrustedProxies: prefixes("127.0.0.0/8")})
	var ids []string
	var accepted, limited int
	for range burst + 4 {
		id := uniqueID(t)
		ids = append(ids, id)
		got := do(t, f.url, request{path: "/webhooks/wochit", header: jsonHeader("X-Forwarded-For", "198.51.100.1"), body: jsonBody(t, notification(id))})
		switch got.status {
		case http.StatusAccepted:
			accepted++
		case http.StatusTooManyRequests:
			limited++
			if got.body["error"] != "rate_limited" {
				t.Errorf("429 with error %q, want rate_limited", got.body["error"])
			}
			if s, err := strconv.Atoi(got.header.Get("Retry-After")); err != nil || s < 1 {
				t.Errorf("Retry-After = %q, want a positive number of seconds", got.header.Get("Retry-After"))
			}
		default:
			t.Fatalf("answer = %d %v", got.status, got.body)
		}
	}
	if accepted != burst || limited != 4 {
		t.Fatalf("%d accepted and %d limited, want %d and 4", accepted, limited, burst)
	}
	if n := started(t, f.temporal, ids); n != burst {
		t.Fatalf("%d workflows exist, want %d (no more than the bucket allows)", n, burst)
	}
	// Another source has its own bucket.
	got := do(t, f.url, request{path: "/webhooks/wochit", header: jsonHeader("X-Forwarded-For", "198.51.100.2"), body: jsonBody(t, notification(uniqueID(t)))})
	if got.status != http.StatusAccepted {
		t.Fatalf("another source answered %d %v, want 202", got.status, got.body)
	}
}

// holdingClient holds every workflow start until released, so a test can
// fill the ingress's start slots.
type holdingClient struct {
	client.Client
	svc *holdingService
}

func (c holdingClient) WorkflowService() workflowservice.WorkflowServiceClient { return c.svc }

type holdingService struct {
	workflowservice.WorkflowServiceClient
	entered chan struct{}
	release chan struct{}
}

func (s *holdingService) StartWorkflowExecution(ctx context.Context, req *workflowservice.StartWorkflowExecutionRequest, opts ...grpc.CallOption) (*workflowservice.StartWorkflowExecutionResponse, error) {
	s.entered <- struct{}{}
	<-s.release
	return s.WorkflowServiceClient.StartWorkflowExecution(ctx, req, opts...)
}

func TestConcurrentStartsAreCapped(t *testing.T) {
	const slots, callers = 2, 5
	c := temporalServer(t).GetDefaultClient()
	svc := &holdingService{WorkflowServiceClient: c.WorkflowService(), entered: make(chan struct{}, callers), release: make(chan struct{})}
	srv := httptest.NewServer(ingress.NewServer(ingress.Config{Namespace: temporalServer(t).GetDefaultNamespace(), AnySource: true, MaxConcurrentStarts: slots}, holdingClient{c, svc}))
	t.Cleanup(srv.Close)

	ids := make([]string, callers)
	answers := make(chan answer, callers)
	for i := range ids {
		ids[i] = uniqueID(t)
		body := jsonBody(t, notification(ids[i]))
		go func() {
			a, err := tryDo(srv.URL, request{path: "/webhooks/wochit", header: jsonHeader(), body: body})
			if err != nil {
				a.status = -1
				a.body = map[string]string{"transport error": err.Error()}
			}
			answers <- a
		}()
	}
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(svc.release) }) }
	t.Cleanup(release) // never leave a held start behind on failure
	// A regression must fail, not hang.
	deadline := time.After(10 * time.Second)
	next := func() answer {
		t.Helper()
		select {
		case a := <-answers:
			return a
		case <-deadline:
			t.Fatal("timed out waiting for an answer")
		}
		return answer{}
	}

	// Two starts are in flight and held; everyone else is shed at once.
	for range slots {
		select {
		case <-svc.entered:
		case <-deadline:
			t.Fatal("timed out waiting for starts to reach Temporal")
		}
	}
	for range callers - slots {
		got := next()
		if got.status != http.StatusTooManyRequests || got.body["error"] != "rate_limited" || got.header.Get("Retry-After") == "" {
			t.Fatalf("answer while the slots are full = %d %v (Retry-After %q), want 429 rate_limited with Retry-After", got.status, got.body, got.header.Get("Retry-After"))
		}
	}
	release()
	for range slots {
		if got := next(); got.status != http.StatusAccepted {
			t.Fatalf("a held start answered %d %v, want 202", got.status, got.body)
		}
	}
	if n := started(t, c, ids); n != slots {
		t.Fatalf("%d workflows exist, want %d (the cap)", n, slots)
	}
}
