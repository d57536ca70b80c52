package worker

import (
	"context"
	"errors"
	"slices"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// HeartbeatThrottle is the most often a worker sends an attempt's heartbeat
// to Temporal (MaxHeartbeatThrottleInterval): fresh progress for the Web UI
// and `send --wait` every few seconds.
const HeartbeatThrottle = 3 * time.Second

// Heartbeats and a Temporal outage. The SDK (v1.50, internalHeartBeat)
// gives each heartbeat RPC only the heartbeat throttle interval and, when
// it fails with a transient error, cancels the activity's context: without
// help, any Temporal or persistence outage longer than ~3 s would cancel
// every transfer in flight, and a single-stream video would start over from
// byte 0.
//
// The trade-off, with the workflow's 60 s heartbeat timeout
// (workflows.TransferHeartbeatTimeout):
//   - an outage is ridden out as long as a heartbeat gets through within
//     HeartbeatRPCTimeout of being sent and within the heartbeat timeout of
//     the last one that did: at least 38 s of Temporal being unreachable in
//     the worst case (the heartbeat sent as the outage begins, and up to 12 s
//     of gRPC's reconnect backoff once it ends: 50 − 12), up to ~50 s
//     otherwise;
//   - a worker that dies is noticed when the heartbeat timeout passes: its
//     attempts are retried elsewhere about 60 s (plus the retry backoff)
//     after its last heartbeat.
//
// HeartbeatRPCTimeout stays under the heartbeat timeout less the throttle
// interval, so a heartbeat that finally gets through still finds its
// attempt alive on the server; past it, the SDK cancels the attempt (the
// server has given up on it by then).
const HeartbeatRPCTimeout = 50 * time.Second

// ClientOptions returns opts with what a worker's Temporal client needs:
// heartbeat RPCs that wait out a Temporal outage (see HeartbeatRPCTimeout)
// instead of cancelling the attempt. Other RPCs are unchanged.
func ClientOptions(opts client.Options) client.Options {
	opts.ConnectionOptions.DialOptions = append(slices.Clip(opts.ConnectionOptions.DialOptions),
		grpc.WithChainUnaryInterceptor(patientHeartbeats))
	return opts
}

// patientHeartbeats runs after the SDK's own interceptors (its retries
// among them), so it sees each heartbeat RPC as the transport does. It
// ignores the SDK's short deadline, not a cancellation: when the attempt's
// context is cancelled (the worker stops, the attempt ends) the RPC ends. A
// cancellation that comes after the SDK's deadline has passed no longer
// reaches it (that context is done already): while Temporal is down, a
// stopping worker's attempt may then wait up to HeartbeatRPCTimeout for it.
func patientHeartbeats(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if method != workflowservice.WorkflowService_RecordActivityTaskHeartbeat_FullMethodName {
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), HeartbeatRPCTimeout)
	defer cancel()
	defer context.AfterFunc(ctx, func() {
		if errors.Is(ctx.Err(), context.Canceled) {
			cancel()
		}
	})()
	// Wait for the connection to come back rather than fail at once.
	opts = append(slices.Clip(opts), grpc.WaitForReady(true))
	for {
		err := invoker(hctx, method, req, reply, cc, opts...)
		if err == nil || !transientRPCError(err) {
			return err
		}
		select {
		case <-hctx.Done():
			return err
		case <-time.After(time.Second):
		}
	}
}

// transientRPCError reports whether a heartbeat failed because Temporal
// (or its database) is unavailable right now, rather than answering: an
// answer such as NotFound (the attempt timed out) ends the attempt.
func transientRPCError(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted, codes.Internal, codes.Unknown:
		return true
	}
	return false
}
