package activities

import (
	"context"
	"errors"
	"testing"

	"go.temporal.io/sdk/temporal"

	"github.com/wochit-ingest/wochit-ingest/contract"
)

// The outcome label takes its values from a fixed set: an error type outside
// contract.Reasons counts as TransferFailed. Mutation: return appErr.Type()
// unchecked in outcomeOf — "SomethingNew" comes back.
func TestOutcomeLabelIsFromAFixedSet(t *testing.T) {
	for _, c := range []struct {
		res  TransferResult
		err  error
		want string
	}{
		{TransferResult{}, nil, "stored"},
		{TransferResult{Reused: true}, nil, "reused"},
		{TransferResult{}, temporal.NewApplicationError("gone", string(contract.OriginNotFound)), "OriginNotFound"},
		{TransferResult{}, temporal.NewApplicationError("new", "SomethingNew"), "TransferFailed"},
		{TransferResult{}, errors.Join(context.Canceled), "cancelled"},
	} {
		if got := outcomeOf(c.res, c.err); got != c.want {
			t.Errorf("outcomeOf(%+v, %v) = %q, want %q", c.res, c.err, got, c.want)
		}
	}
}
