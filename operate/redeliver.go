package operate

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.temporal.io/sdk/client"
	"golang.org/x/time/rate"

	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// BatchOptions drive RedeliverBatch.
type BatchOptions struct {
	// Yes skips the confirmation.
	Yes bool
	// Rate is how many redeliveries start per second (each one signals a
	// run or starts one, and the run then calls the backend); at least 0.1.
	Rate float64
	// In answers the confirmation; Out gets the count, the question and a
	// line per video.
	In  io.Reader
	Out io.Writer
}

// DefaultBatchRate keeps a batch from hitting a backend that just recovered
// with every callback at once.
const DefaultBatchRate = 5

// ErrNotConfirmed is RedeliverBatch's answer when the operator did not say yes.
var ErrNotConfirmed = errors.New("nothing redelivered: not confirmed (answer y, or pass --yes)")

// BatchResult is one video's redelivery.
type BatchResult struct {
	WochitVideoID string
	Result        workflows.RedeliverResult `json:",omitzero"`
	Err           string                    `json:",omitempty"`
}

// RedeliverBatch redelivers the callback of every video the filter selects
// (each video's latest run, once), after showing the count and asking for
// confirmation unless bo.Yes, at most bo.Rate per second. It reports each
// result as it goes; the error says how many failed. Each redelivery is
// workflows.Redeliver: a run still open is signalled, a failed run is re-run
// with its notification and reuses the files stored (it never downloads a
// stored file again), a completed run is left alone.
func RedeliverBatch(ctx context.Context, c client.Client, opts Options, f Filter, bo BatchOptions) ([]BatchResult, error) {
	f.AllRuns = false // a video once, by its latest run
	runs, err := List(ctx, c, opts, f, 0)
	if err != nil {
		return nil, err
	}
	query, _ := f.Query()
	fmt.Fprintf(bo.Out, "%d video(s) match %s\n", len(runs), query)
	if len(runs) == 0 {
		return nil, nil
	}
	if !bo.Yes {
		for i, r := range runs {
			if i == 20 {
				fmt.Fprintf(bo.Out, "  … and %d more\n", len(runs)-i)
				break
			}
			fmt.Fprintf(bo.Out, "  %s  %s  %s\n", r.WochitVideoID, r.Status, cmpOr(string(r.Reason), string(r.Callback)))
		}
		fmt.Fprintf(bo.Out, "Redeliver the callback of these %d video(s)? [y/N] ", len(runs))
		answer, _ := bufio.NewReader(bo.In).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
			fmt.Fprintln(bo.Out)
			return nil, ErrNotConfirmed
		}
	}
	limiter := rate.NewLimiter(rate.Limit(max(bo.Rate, 0.1)), 1)
	results := make([]BatchResult, 0, len(runs))
	failed := 0
	for i, r := range runs {
		if err := limiter.Wait(ctx); err != nil {
			return results, fmt.Errorf("stopped after %d of %d: %w", i, len(runs), err)
		}
		res, err := workflows.Redeliver(ctx, c, workflows.RedeliverOptions{Namespace: opts.Namespace, DataConverter: opts.DataConverter}, r.WochitVideoID)
		br := BatchResult{WochitVideoID: r.WochitVideoID, Result: res}
		prefix := fmt.Sprintf("[%d/%d] %s: ", i+1, len(runs), r.WochitVideoID)
		if err != nil {
			err = opts.keyError(err)
			br.Err = err.Error()
			failed++
			fmt.Fprintf(bo.Out, "%s✗ %v\n", prefix, err)
			var ke *KeyError
			if errors.As(err, &ke) {
				// Every other video needs the same keys: stop here.
				return append(results, br), err
			}
		} else {
			fmt.Fprintf(bo.Out, "%s%s\n", prefix, resultLine(res))
		}
		results = append(results, br)
	}
	if failed > 0 {
		return results, fmt.Errorf("%d of %d redeliveries failed", failed, len(runs))
	}
	fmt.Fprintf(bo.Out, "Done: %d redelivered.\n", len(runs))
	return results, nil
}

func resultLine(res workflows.RedeliverResult) string {
	switch res.Action {
	case workflows.RedeliverSignalled:
		return "running: signalled, its next callback attempt starts now"
	case workflows.RedeliverRestarted:
		return fmt.Sprintf("re-run as %s (failed run %s: %s); stored files are reused", res.RunID, res.FailedRunID, res.Failure)
	case workflows.RedeliverAlreadyDelivered:
		return "completed: its callback was delivered, nothing to do"
	}
	return string(res.Action)
}
