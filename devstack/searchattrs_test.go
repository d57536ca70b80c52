package devstack_test

import (
	"context"
	"testing"

	"go.temporal.io/api/operatorservice/v1"

	"github.com/wochit-ingest/wochit-ingest/devstack"
	"github.com/wochit-ingest/wochit-ingest/devstack/devstacktest"
	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// A dev database made before a search attribute existed (FailureReason came
// later) gets it on the next start: the namespace is created only once, so
// dev adds what is missing, and its worker (which checks them) starts.
// Mutation: drop the RegisterSearchAttributes call from devstack.Start →
// the restarted stack's namespace lacks FailureReason and this fails.
func TestDevAddsSearchAttributesAnOlderDatabaseLacks(t *testing.T) {
	devstacktest.EndToEnd(t)
	dir := t.TempDir()
	recv := devstacktest.NewReceiver(t)
	stack := startStack(t, dir, randomAddrs(), recv.URL, func(o *devstack.Options) { o.NoWorker = true })
	ctx := context.Background()
	if _, err := stack.Client.OperatorService().RemoveSearchAttributes(ctx, &operatorservice.RemoveSearchAttributesRequest{
		Namespace: devstack.Namespace, SearchAttributes: []string{workflows.SearchAttrFailureReason},
	}); err != nil {
		t.Fatal(err)
	}
	a := randomAddrs()
	if err := stack.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	stack = startStack(t, dir, a, recv.URL, func(o *devstack.Options) { o.NoWorker = true })
	defer stack.Stop(ctx)
	resp, err := stack.Client.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: devstack.Namespace})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range workflows.SearchAttributes {
		if _, ok := resp.GetCustomAttributes()[name]; !ok {
			t.Errorf("after a restart on the older database, %s is not registered", name)
		}
	}
}
