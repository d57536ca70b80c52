package worker

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// The budget fits the trade-off README states: a heartbeat that gets
// through after waiting HeartbeatRPCTimeout, sent up to one throttle
// interval after the last one that did, still beats the heartbeat timeout.
func TestHeartbeatRPCTimeoutFitsTheHeartbeatTimeout(t *testing.T) {
	if HeartbeatRPCTimeout != 50*time.Second || HeartbeatThrottle != 3*time.Second || workflows.TransferHeartbeatTimeout != 60*time.Second {
		t.Fatalf("HeartbeatRPCTimeout %s, HeartbeatThrottle %s, heartbeat timeout %s; README documents 50s, 3s and 60s",
			HeartbeatRPCTimeout, HeartbeatThrottle, workflows.TransferHeartbeatTimeout)
	}
	if HeartbeatRPCTimeout+HeartbeatThrottle >= workflows.TransferHeartbeatTimeout {
		t.Fatal("a heartbeat could get through after the server has timed its attempt out")
	}
}

// Against a Temporal address nobody listens on, a heartbeat outlives the
// SDK's deadline on it (the caller's context timing out) but not a
// cancellation (the attempt ending, the worker stopping), and other RPCs
// keep their deadlines. (A cancellation that comes after the SDK's
// deadline has passed no longer reaches the RPC: it ends within
// HeartbeatRPCTimeout.)
//
// Mutations: dropping the AfterFunc that cancels fails "still waiting after
// its caller was cancelled"; passing ctx through unchanged fails "gave up
// with the caller's deadline".
func TestHeartbeatRPCWaitsOutTheSDKsDeadlineNotACancellation(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // connections are refused, as while Temporal is down
	conn := func() *grpc.ClientConn {
		cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cc.Close() })
		return cc
	}
	// What the interceptor calls next: the transport.
	invoke := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, opts ...grpc.CallOption) error {
		return cc.Invoke(ctx, method, req, reply, opts...)
	}
	heartbeat := func(ctx context.Context, cc *grpc.ClientConn) <-chan error {
		done := make(chan error, 1)
		go func() {
			done <- patientHeartbeats(ctx, workflowservice.WorkflowService_RecordActivityTaskHeartbeat_FullMethodName,
				&workflowservice.RecordActivityTaskHeartbeatRequest{}, &workflowservice.RecordActivityTaskHeartbeatResponse{}, cc, invoke)
		}()
		return done
	}

	t.Run("the SDK's deadline passes", func(t *testing.T) {
		cc := conn()
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		done := heartbeat(ctx, cc)
		select {
		case err := <-done:
			t.Fatalf("the heartbeat gave up with the caller's deadline: %v", err)
		case <-time.After(2 * time.Second):
		}
		cc.Close() // ends the wait
		<-done
	})

	t.Run("the attempt is cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		done := heartbeat(ctx, conn())
		time.AfterFunc(200*time.Millisecond, cancel)
		select {
		case err := <-done:
			if status.Code(err) != codes.Canceled && !errors.Is(err, context.Canceled) {
				t.Fatalf("the cancelled heartbeat ended with %v, want a cancellation", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the heartbeat was still waiting after its caller was cancelled")
		}
	})

	t.Run("another RPC", func(t *testing.T) {
		cc := conn()
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := patientHeartbeats(ctx, workflowservice.WorkflowService_PollActivityTaskQueue_FullMethodName,
			&workflowservice.PollActivityTaskQueueRequest{}, &workflowservice.PollActivityTaskQueueResponse{}, cc, invoke,
			grpc.WaitForReady(true))
		if status.Code(err) != codes.DeadlineExceeded || time.Since(start) > 5*time.Second {
			t.Fatalf("another RPC returned %v after %s; want its own deadline to end it", err, time.Since(start))
		}
	})
}
