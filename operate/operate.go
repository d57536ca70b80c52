// Package operate is what the operator commands (status, list, follow and
// batch redeliver) do, apart from their flags: it reads a run's state from
// Temporal and decrypts it locally with the caller's PAYLOAD_KEYS, finds runs
// with visibility queries over the workflow's search attributes, and
// redelivers callbacks in bulk. It is client code: no workflow calls it.
package operate

import (
	"context"
	"errors"
	"fmt"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	failurepb "go.temporal.io/api/failure/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"

	"github.com/wochit-ingest/wochit-ingest/internal/payloadcodec"
	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// Options say where the runs live and how their payloads are decrypted.
type Options struct {
	Namespace string
	// DataConverter decrypts payloads: payloadcodec.DataConverter of the
	// caller's PAYLOAD_KEYS. Nil means no keys were given; a run whose
	// payloads are encrypted then fails with a *KeyError.
	DataConverter converter.DataConverter
}

func (o Options) dc() converter.DataConverter {
	if o.DataConverter == nil {
		return converter.GetDefaultDataConverter()
	}
	return o.DataConverter
}

// KeyError says the run's payloads cannot be decrypted with the keys given:
// none were given, or none of them is the key a payload was encrypted with.
// It is never a verdict on the run, which may well have succeeded.
type KeyError struct {
	// NoKeys is true when no PAYLOAD_KEYS were given at all.
	NoKeys bool
	Err    error
}

func (e *KeyError) Error() string {
	if e.NoKeys {
		return "cannot decrypt the run's payloads: no PAYLOAD_KEYS given. Set PAYLOAD_KEYS to the keys the workers use " +
			"(dev keeps them in .data/payload-keys); this says nothing about how the run went"
	}
	return fmt.Sprintf("cannot decrypt the run's payloads with the PAYLOAD_KEYS given (%v). Set PAYLOAD_KEYS to the keys the workers use "+
		"(dev keeps them in .data/payload-keys); this says nothing about how the run went", e.Err)
}

func (e *KeyError) Unwrap() error { return e.Err }

// IsKeyError reports whether err comes from decoding a payload that needs a
// key the caller does not have: an encrypted payload read without the codec
// (the SDK's "payload encoding is not supported" for binary/encrypted), or
// with a keyring that lacks its key or does not authenticate it.
func IsKeyError(err error) bool {
	if err == nil {
		return false
	}
	var ke *KeyError
	if errors.As(err, &ke) {
		return true
	}
	msg := err.Error()
	return (errors.Is(err, converter.ErrEncodingIsNotSupported) || strings.Contains(msg, converter.ErrEncodingIsNotSupported.Error())) &&
		strings.Contains(msg, payloadcodec.EncodingEncrypted) ||
		strings.Contains(msg, "payloadcodec: ")
}

// keyError wraps err as a *KeyError when it is one (see IsKeyError).
func (o Options) keyError(err error) error {
	var ke *KeyError
	if err == nil || errors.As(err, &ke) || !IsKeyError(err) {
		return err
	}
	return &KeyError{NoKeys: o.DataConverter == nil, Err: err}
}

// UnknownVideoError says the namespace has no run for the video.
type UnknownVideoError struct {
	WochitVideoID, Namespace string
}

func (e *UnknownVideoError) Error() string {
	return fmt.Sprintf("no ingest of video %q (workflow %s) in namespace %s", e.WochitVideoID, workflows.WorkflowID(e.WochitVideoID), e.Namespace)
}

// latestRun returns the id of the video's latest run, or *UnknownVideoError.
func latestRun(ctx context.Context, c client.Client, opts Options, wochitVideoID string) (runID string, err error) {
	desc, err := c.DescribeWorkflowExecution(ctx, workflows.WorkflowID(wochitVideoID), "")
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return "", &UnknownVideoError{WochitVideoID: wochitVideoID, Namespace: opts.Namespace}
	}
	if err != nil {
		return "", fmt.Errorf("describing %s: %w", workflows.WorkflowID(wochitVideoID), err)
	}
	return desc.GetWorkflowExecutionInfo().GetExecution().GetRunId(), nil
}

// CheckKeys reads the run's input, the one payload every run has: it fails
// with a *KeyError when the caller's keys cannot decrypt it, so a command
// says so before anything else.
func CheckKeys(ctx context.Context, c client.Client, opts Options, workflowID, runID string) (workflows.IngestInput, error) {
	in, err := workflows.StartedWith(ctx, c, opts.dc(), opts.Namespace, workflowID, runID)
	return in, opts.keyError(err)
}

// keyword reads a Keyword search attribute (never encrypted: search
// attributes are the server's to index).
func keyword(sa *commonpb.SearchAttributes, name string) string {
	p := sa.GetIndexedFields()[name]
	if p == nil {
		return ""
	}
	var s string
	if converter.GetDefaultDataConverter().FromPayload(p, &s) != nil {
		return ""
	}
	return s
}

func execution(workflowID, runID string) *commonpb.WorkflowExecution {
	return &commonpb.WorkflowExecution{WorkflowId: workflowID, RunId: runID}
}

func cloneFailure(f *failurepb.Failure) *failurepb.Failure {
	return proto.Clone(f).(*failurepb.Failure)
}
