package workflows_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"go.temporal.io/api/serviceerror"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// Which start failures divert to the inbox: Temporal's state, never the
// notification's or the configuration's. Dropping NamespaceUnavailable
// from workflows.TemporalUnavailable (a namespace failover, as Temporal Cloud reports
// it) answers 503 during an outage the inbox would have absorbed, and fails
// here.
func TestTemporalUnavailableClassifiesStartFailures(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{serviceerror.NewUnavailable("no leader"), true},
		{serviceerror.NewDeadlineExceeded("slow"), true},
		{serviceerror.NewResourceExhausted(0, "busy"), true},
		{serviceerror.NewNamespaceUnavailable("wochit"), true},
		{serviceerror.NewInternal("persistence"), true},
		{fmt.Errorf("starting: %w", context.DeadlineExceeded), true},
		{status.Error(codes.Unavailable, "connection refused"), true},
		{serviceerror.NewNamespaceNotFound("wochit"), false},
		{serviceerror.NewPermissionDenied("no", ""), false},
		{serviceerror.NewInvalidArgument("too big"), false},
		{errors.New("something else"), false},
	} {
		if got := workflows.TemporalUnavailable(tc.err); got != tc.want {
			t.Errorf("TemporalUnavailable(%T %v) = %v, want %v", tc.err, tc.err, got, tc.want)
		}
	}
}
