package activities

import (
	"context"
	"net/http"
)

// probeResult is the first response from the origin, asked for the first
// part's range: it tells whether the origin supports ranges and how large
// the file is, and its body is the start of the file either way.
type probeResult struct {
	resp   *http.Response
	total  int64 // size of the whole file; -1 when unknown
	ranged bool  // the origin answered 206 for the range
	length int64 // bytes in this response's body; -1 when unknown
}

func (a *Activities) probe(ctx context.Context, in TransferInput, partSize int64) (probeResult, error) {
	resp, err := a.get(ctx, in, 0, partSize-1)
	if err != nil {
		return probeResult{}, err
	}
	switch resp.StatusCode {
	case http.StatusPartialContent:
		r, ok := parseContentRange(resp.Header.Get("Content-Range"))
		switch {
		case !ok || r.start != 0 || r.end > partSize-1:
			resp.Body.Close()
			return probeResult{}, retryable(ErrOriginMisbehaved, nil, "origin answered the range 0-%d with Content-Range %q",
				partSize-1, resp.Header.Get("Content-Range"))
		case resp.ContentLength >= 0 && resp.ContentLength != r.end+1:
			resp.Body.Close()
			return probeResult{}, retryable(ErrOriginMisbehaved, nil, "origin sent Content-Length %d for the range %d-%d",
				resp.ContentLength, r.start, r.end)
		case r.total >= 0:
			return probeResult{resp: resp, total: r.total, ranged: true, length: r.end + 1}, nil
		}
		// A range of unknown total size cannot be planned: ask for it whole.
		resp.Body.Close()
	case http.StatusOK:
		return probeResult{resp: resp, total: resp.ContentLength, length: resp.ContentLength}, nil
	default: // 416: e.g. an empty file; ask for it whole
		resp.Body.Close()
	}
	if resp, err = a.get(ctx, in, 0, -1); err != nil {
		return probeResult{}, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return probeResult{}, retryable(ErrOriginMisbehaved, nil, "origin answered %d to a plain GET", resp.StatusCode)
	}
	return probeResult{resp: resp, total: resp.ContentLength, length: resp.ContentLength}, nil
}
