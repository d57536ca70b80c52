package workflows

import (
	"testing"

	enumspb "go.temporal.io/api/enums/v1"
	failurepb "go.temporal.io/api/failure/v1"
	"go.temporal.io/sdk/temporal"

	"github.com/wochit-ingest/wochit-ingest/contract"
)

// The reason a video.failed carries, for the failures the SDK hands the
// workflow. They are built from Failure protos, as the server sends them,
// through the SDK's own converter.
func TestFailureReason(t *testing.T) {
	activityFailure := func(state enumspb.RetryState, cause *failurepb.Failure) error {
		return temporal.GetDefaultFailureConverter().FailureToError(&failurepb.Failure{
			Message: "activity error",
			Cause:   cause,
			FailureInfo: &failurepb.Failure_ActivityFailureInfo{ActivityFailureInfo: &failurepb.ActivityFailureInfo{
				ActivityType: nil, RetryState: state, Identity: "4242@worker-7",
			}},
		})
	}
	appFailure := func(typ, msg string) *failurepb.Failure {
		return &failurepb.Failure{Message: msg, FailureInfo: &failurepb.Failure_ApplicationFailureInfo{
			ApplicationFailureInfo: &failurepb.ApplicationFailureInfo{Type: typ},
		}}
	}
	for _, tt := range []struct {
		name string
		err  error
		want contract.Reason
	}{
		// The server stops retrying when the next attempt would start after
		// ScheduleToClose: the deadline ended it, whatever the last attempt
		// failed with.
		{"deadline reached between attempts", activityFailure(enumspb.RETRY_STATE_TIMEOUT, appFailure("OriginUnavailable", "origin answered 503")), contract.DeadlineExceeded},
		{"final failure", activityFailure(enumspb.RETRY_STATE_NON_RETRYABLE_FAILURE, appFailure("OriginNotFound", "origin answered 404")), contract.OriginNotFound},
		// A plain Go error returned by an activity arrives typed with its Go
		// type's name: no reason a customer can act on, so TransferFailed.
		{"untyped error", activityFailure(enumspb.RETRY_STATE_NON_RETRYABLE_FAILURE, appFailure("*errors.errorString", "disk on fire")), contract.TransferFailed},
		{"panic", activityFailure(enumspb.RETRY_STATE_NON_RETRYABLE_FAILURE, appFailure("PanicError", "boom")), contract.TransferFailed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, msg := failureReason(tt.err)
			if got != tt.want {
				t.Errorf("failureReason = %s (%q), want %s", got, msg, tt.want)
			}
		})
	}
}
