//go:build !production

package commands

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/wochit-ingest/wochit-ingest/devstack"
	"github.com/wochit-ingest/wochit-ingest/devstack/devstacktest"
	"github.com/wochit-ingest/wochit-ingest/operate"
	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// send names the route it posts to, never the token a path carries: its
// output ends up in terminals, CI logs and bug reports.
func TestSendPrintsTheRouteNotTheToken(t *testing.T) {
	const token = "tok-0123456789abcdef-secret"
	var gotPath string
	ingress := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath = r.URL.Path
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"workflowId":"wochit-video-v1","runId":"r1"}`))
	}))
	defer ingress.Close()
	args := []string{"send", "--video-id", "v1", "--video-url", "https://media.example.com/v.mp4",
		"--thumbnail-url", "https://media.example.com/t.jpg", "--context", "c"}

	var stdout, stderr bytes.Buffer
	err := run(context.Background(), append(args, "--url", ingress.URL+"/webhooks/wochit/"+token+"?x=1"), nil, &stdout, &stderr)
	if err != nil {
		t.Fatalf("send: %v (%s)", err, stderr.String())
	}
	if gotPath != "/webhooks/wochit/"+token {
		t.Fatalf("the ingress saw %q: the token was not sent", gotPath)
	}
	if out := stdout.String(); strings.Contains(out, token) || !strings.Contains(out, "POST "+ingress.URL+"/webhooks/wochit/{token} → 202") {
		t.Fatalf("send printed %q; want the route template and no token", out)
	}

	// A failed post names the route too (url.Error would print the URL).
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()
	stdout.Reset()
	err = run(context.Background(), append(args, "--url", closed+"/webhooks/wochit/"+token), nil, &stdout, &stderr)
	if err == nil || strings.Contains(err.Error()+stdout.String(), token) || !strings.Contains(err.Error(), "/webhooks/wochit/{token}") {
		t.Fatalf("failed send reported %v / %q; want the route template and no token", err, stdout.String())
	}
}

// recordingFrontend is a Temporal frontend that records the authorization
// each call carries and implements only what dialling needs.
type recordingFrontend struct {
	workflowservice.UnimplementedWorkflowServiceServer
	mu   sync.Mutex
	auth []string
}

func (f *recordingFrontend) GetSystemInfo(ctx context.Context, _ *workflowservice.GetSystemInfoRequest) (*workflowservice.GetSystemInfoResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	f.mu.Lock()
	f.auth = append(f.auth, md.Get("authorization")...)
	f.mu.Unlock()
	return &workflowservice.GetSystemInfoResponse{}, nil
}

// `send --wait` follows the run over the connection every command reads: a
// Temporal profile's address and API key included (it once dialled the
// --temporal-address default with neither).
func TestSendWaitDialsTheTemporalProfile(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	frontend := &recordingFrontend{}
	srv := grpc.NewServer()
	workflowservice.RegisterWorkflowServiceServer(srv, frontend)
	go srv.Serve(l)
	defer srv.Stop()

	ingress := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"workflowId":"wochit-video-v1","runId":"r1"}`))
	}))
	defer ingress.Close()
	file := writeTemporalConfig(t, fmt.Sprintf(`address = %q
namespace = "ns-from-profile"
api_key = "key-from-profile"
[profile.staging.tls]
disabled = true
`, l.Addr().String()))

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err = run(ctx, []string{"send", "--wait", "--url", ingress.URL + "/webhooks/wochit", "--video-id", "v1", "--video-url", "https://media.example.com/v.mp4"},
		[]string{"TEMPORAL_CONFIG_FILE=" + file, "TEMPORAL_PROFILE=staging"}, &stdout, &stderr)
	// The fake frontend knows no workflow: following it fails after the dial.
	if err == nil || !strings.Contains(stdout.String(), "Following wochit-video-v1") {
		t.Fatalf("send --wait: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	frontend.mu.Lock()
	defer frontend.mu.Unlock()
	if !slices.Contains(frontend.auth, "Bearer key-from-profile") {
		t.Fatalf("the profile's frontend saw authorization %q, want the profile's API key", frontend.auth)
	}
}

// `send --demo --wait` started outside the checkout has no dev payload key
// (./.data/payload-keys) and no PAYLOAD_KEYS: it says the keys are missing,
// and never that the run failed. It used to print "✗ failed: payload item 0:
// encoding binary/encrypted: payload encoding is not supported" and "the
// ingest failed", exit 1, while the run completed. Mutation: operate.Follow
// without CheckKeys and without its IsKeyError check brings that back.
func TestSendWaitWithoutKeysIsAKeyError(t *testing.T) {
	devstacktest.EndToEnd(t)
	recv := devstacktest.NewReceiver(t)
	stack := devstacktest.Start(t, devstacktest.Quiet, func(o *devstack.Options) { o.CallbackURL = recv.URL })
	if _, err := os.Stat(devPayloadKeyFile); err == nil {
		t.Fatalf("%s exists here: the test needs a directory without dev's key", devPayloadKeyFile)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err := run(ctx, []string{"send", "--demo", "--wait", "--video-id", "nokey-1", "--url", stack.IngressURL + "/webhooks/wochit",
		"--dev-url", stack.DevURL, "--temporal-address", stack.TemporalAddr}, nil, &stdout, &stderr)
	var ke *operate.KeyError
	if !errors.As(err, &ke) || !ke.NoKeys || strings.Contains(stdout.String(), "failed") {
		t.Fatalf("send --demo --wait without keys: %v\n%s%s\nwant a KeyError and no verdict on the run", err, stdout.String(), stderr.String())
	}
	// The run itself went fine.
	if err := stack.Client.GetWorkflow(ctx, workflows.WorkflowID("nokey-1"), "").Get(ctx, nil); err != nil {
		t.Fatalf("the run: %v", err)
	}
}
