package activities

import (
	"context"
	"net/http"

	"github.com/wochit-ingest/wochit-ingest/contract"
)

// probeResult is the first response from the origin, asked for the first
// part's range (or, on a resumed transfer, for a few bytes): it tells
// whether the origin supports ranges, how large the file is and which
// version it is, and its body is the start of the file either way.
type probeResult struct {
	resp   *http.Response
	total  int64 // size of the whole file; -1 when unknown
	ranged bool  // the origin answered 206 for the range
	length int64 // bytes in this response's body; -1 when unknown
	asked  int64 // bytes the range asked for
}

// partial reports whether the body holds only the start of the file.
func (p probeResult) partial() bool { return p.ranged && p.total > p.length }

func (a *Activities) probe(ctx context.Context, in TransferInput, first int64) (probeResult, error) {
	resp, err := a.get(ctx, in, 0, first-1, "")
	if err != nil {
		return probeResult{}, err
	}
	switch resp.StatusCode {
	case http.StatusPartialContent:
		r, ok := parseContentRange(resp.Header.Get("Content-Range"))
		switch {
		case !ok || r.start != 0 || r.end > first-1:
			resp.Body.Close()
			return probeResult{}, retryable(contract.OriginMisbehaved, nil, "origin answered the range 0-%d with Content-Range %q",
				first-1, resp.Header.Get("Content-Range"))
		case resp.ContentLength >= 0 && resp.ContentLength != r.end+1:
			resp.Body.Close()
			return probeResult{}, retryable(contract.OriginMisbehaved, nil, "origin sent Content-Length %d for the range %d-%d",
				resp.ContentLength, r.start, r.end)
		case r.total >= 0:
			// The answer may be shorter than asked: some origins cap ranges.
			return probeResult{resp: resp, total: r.total, ranged: true, length: r.end + 1, asked: first}, nil
		}
		// A range of unknown total size cannot be planned: ask for it whole.
		resp.Body.Close()
	case http.StatusOK:
		return probeResult{resp: resp, total: resp.ContentLength, length: resp.ContentLength}, nil
	default: // 416: e.g. an empty file; ask for it whole
		resp.Body.Close()
	}
	return a.wholeFile(ctx, in)
}

// wholeFile asks for the file in one plain GET.
func (a *Activities) wholeFile(ctx context.Context, in TransferInput) (probeResult, error) {
	resp, err := a.get(ctx, in, 0, -1, "")
	if err != nil {
		return probeResult{}, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return probeResult{}, retryable(contract.OriginMisbehaved, nil, "origin answered %d to a plain GET", resp.StatusCode)
	}
	return probeResult{resp: resp, total: resp.ContentLength, length: resp.ContentLength}, nil
}
