package worker_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/server/temporaltest"

	"github.com/wochit-ingest/wochit-ingest/devstack/devstacktest"
	"github.com/wochit-ingest/wochit-ingest/worker"
	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// A worker refuses to start on a namespace that lacks the search attributes
// (its runs would fail every workflow task); setup registers them, once.
func TestSearchAttributesCheckAndSetup(t *testing.T) {
	devstacktest.EndToEnd(t)
	t.Parallel()
	ts := temporaltest.NewServer(temporaltest.WithT(t))
	c, ns, ctx := ts.GetDefaultClient(), ts.GetDefaultNamespace(), context.Background()

	err := worker.CheckSearchAttributes(ctx, c, ns)
	if !errors.Is(err, worker.ErrSearchAttributesMissing) {
		t.Fatalf("check on a bare namespace = %v, want ErrSearchAttributesMissing", err)
	}
	if err := worker.Run(ctx, worker.Config{Namespace: ns, Bucket: "b"}, c); !errors.Is(err, worker.ErrSearchAttributesMissing) {
		t.Fatalf("Run on a bare namespace = %v, want it to refuse to start", err)
	}

	added, err := worker.RegisterSearchAttributes(ctx, c, ns)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(added)
	want := slices.Sorted(slices.Values(workflows.SearchAttributes))
	if !slices.Equal(added, want) {
		t.Fatalf("setup added %v, want %v", added, want)
	}
	if err := worker.CheckSearchAttributes(ctx, c, ns); err != nil {
		t.Fatalf("check after setup: %v", err)
	}
	if again, err := worker.RegisterSearchAttributes(ctx, c, ns); err != nil || len(again) != 0 {
		t.Fatalf("second setup added %v (%v), want nothing", again, err)
	}

	// A namespace set up before FailureReason existed: the worker names it,
	// and setup adds it alone.
	if _, err := c.OperatorService().RemoveSearchAttributes(ctx, &operatorservice.RemoveSearchAttributesRequest{
		Namespace: ns, SearchAttributes: []string{workflows.SearchAttrFailureReason},
	}); err != nil {
		t.Fatal(err)
	}
	if err := worker.CheckSearchAttributes(ctx, c, ns); !errors.Is(err, worker.ErrSearchAttributesMissing) || !strings.Contains(err.Error(), "FailureReason") {
		t.Fatalf("check without FailureReason = %v, want ErrSearchAttributesMissing naming it", err)
	}
	if added, err := worker.RegisterSearchAttributes(ctx, c, ns); err != nil || !slices.Equal(added, []string{workflows.SearchAttrFailureReason}) {
		t.Fatalf("setup on the older namespace added %v (%v), want [FailureReason]", added, err)
	}
}
