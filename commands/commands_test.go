package commands

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/wochit-ingest/wochit-ingest/devstack/devstacktest"
)

func runCmd(t *testing.T, ctx context.Context, environ []string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(ctx, args, environ, &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestEveryCommandHasHelp(t *testing.T) {
	for _, c := range commands {
		t.Run(c.name, func(t *testing.T) {
			_, stderr, err := runCmd(t, context.Background(), nil, c.name, "--help")
			if err != nil {
				t.Fatalf("%s --help: %v", c.name, err)
			}
			if !strings.Contains(stderr, "Usage of wochit-ingest "+c.name) {
				t.Fatalf("%s --help printed %q", c.name, stderr)
			}
		})
	}
	stdout, _, err := runCmd(t, context.Background(), nil, "help")
	if err != nil || !strings.Contains(stdout, "dev") || !strings.Contains(stdout, "send") {
		t.Fatalf("help: %v %q", err, stdout)
	}
	if _, _, err := runCmd(t, context.Background(), nil, "frobnicate"); err == nil {
		t.Fatal("an unknown command succeeded")
	}
}

func TestVersion(t *testing.T) {
	stdout, _, err := runCmd(t, context.Background(), nil, "version")
	if err != nil || !strings.HasPrefix(stdout, "wochit-ingest ") {
		t.Fatalf("version: %v %q", err, stdout)
	}
}

// Bad configuration fails at start with a message naming the setting.
func TestWorkerConfigErrorsNameTheSetting(t *testing.T) {
	tests := []struct {
		env  []string
		want []string
	}{
		{nil, []string{"GCS_BUCKET", "CALLBACK_URL", "CALLBACK_SECRET"}},
		{[]string{"GCS_BUCKET=b", "CALLBACK_URL=ftp://x", "CALLBACK_SECRET=whsec_short"}, []string{"CALLBACK_URL", "CALLBACK_SECRET"}},
		{[]string{"GCS_BUCKET=b", "CALLBACK_URL=https://x", "CALLBACK_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "WORKER_STOP_TIMEOUT=soon"}, []string{"WORKER_STOP_TIMEOUT"}},
		{[]string{"GCS_BUCKET=b", "CALLBACK_URL=https://x", "CALLBACK_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "WORKER_TASK_QUEUES=nope"}, []string{"WORKER_TASK_QUEUES"}},
	}
	for _, tt := range tests {
		_, _, err := runCmd(t, context.Background(), tt.env, "worker")
		if err == nil {
			t.Fatalf("worker started with %v", tt.env)
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("with %v the error %q does not name %s", tt.env, err, w)
			}
		}
	}
}

// The README's first steps: `dev`, then `send --demo --wait`.
func TestSendDemoWaitAgainstDevStack(t *testing.T) {
	devstacktest.EndToEnd(t)
	stack := devstacktest.Start(t, devstacktest.Quiet)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	stdout, stderr, err := runCmd(t, ctx, []string{"PAYLOAD_KEYS=" + stack.PayloadKeys}, "send", "--demo", "--wait", "--video-id", "demo-main-test",
		"--url", stack.IngressURL+"/webhooks/wochit", "--dev-url", stack.DevURL, "--temporal-address", stack.TemporalAddr)
	if err != nil {
		t.Fatalf("send: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
	}
	for _, want := range []string{"202 Accepted", "✓ stored", "gs://wochit-videos/videos/demo-", "/video.mp4", "/thumbnail.png", "video.stored delivered"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	// The built-in receiver verified the delivery.
	got := stack.Receiver.Deliveries()
	if len(got) != 1 || got[0].Event.Type != "video.stored" {
		t.Fatalf("dev receiver got %+v", got)
	}

	// Redelivering a completed run does nothing and says so.
	stdout, stderr, err = runCmd(t, ctx, []string{"PAYLOAD_KEYS=" + stack.PayloadKeys}, "redeliver", "demo-main-test", "--temporal-address", stack.TemporalAddr)
	if err != nil {
		t.Fatalf("redeliver: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
	}
	for _, want := range []string{"wochit-video-demo-main-test completed", got[0].WebhookID, "Nothing to do"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("redeliver output lacks %q:\n%s", want, stdout)
		}
	}
	if n := len(stack.Receiver.Deliveries()); n != 1 {
		t.Fatalf("redelivering a completed run sent %d callbacks in all, want still 1", n)
	}
	if _, _, err := runCmd(t, ctx, []string{"PAYLOAD_KEYS=" + stack.PayloadKeys}, "redeliver", "no-such-video", "--temporal-address", stack.TemporalAddr); err == nil || !strings.Contains(err.Error(), "no ingest") {
		t.Fatalf("redeliver of an unknown video: %v, want a \"no ingest\" error", err)
	}
}
