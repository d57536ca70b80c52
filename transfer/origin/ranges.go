package origin

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/wochit-ingest/wochit-ingest/contract"
	"github.com/wochit-ingest/wochit-ingest/internal/failure"
)

// Probe is the first answer from the origin, asked for the first part's
// range (or, on a resumed transfer, for a few bytes): it tells whether the
// origin supports ranges, how large the file is and which version it is,
// and its body is the start of the file either way.
type Probe struct {
	Resp   *http.Response
	Total  int64 // size of the whole file; -1 when unknown
	Ranged bool  // the origin answered 206 for the range
	Length int64 // bytes in this response's body; -1 when unknown
	Asked  int64 // bytes the range asked for
}

// Partial reports whether the body holds only the start of the file.
func (p Probe) Partial() bool { return p.Ranged && p.Total > p.Length }

// Probe asks for the first `first` bytes of the file. An origin that
// ignores ranges answers with the whole file; one that cannot say the
// file's size in a range is asked for it whole.
func (c *Client) Probe(ctx context.Context, first int64) (Probe, error) {
	resp, err := c.Get(ctx, 0, first-1, "")
	if err != nil {
		return Probe{}, err
	}
	switch resp.StatusCode {
	case http.StatusPartialContent:
		r, ok := ParseContentRange(resp.Header.Get("Content-Range"))
		switch {
		case !ok || r.Start != 0 || r.End > first-1:
			resp.Body.Close()
			return Probe{}, failure.Retryable(contract.OriginMisbehaved, nil, "origin answered the range 0-%d with Content-Range %q",
				first-1, resp.Header.Get("Content-Range"))
		case resp.ContentLength >= 0 && resp.ContentLength != r.End+1:
			resp.Body.Close()
			return Probe{}, failure.Retryable(contract.OriginMisbehaved, nil, "origin sent Content-Length %d for the range %d-%d",
				resp.ContentLength, r.Start, r.End)
		case r.Total >= 0:
			// The answer may be shorter than asked: some origins cap ranges.
			return Probe{Resp: resp, Total: r.Total, Ranged: true, Length: r.End + 1, Asked: first}, nil
		}
		// A range of unknown total size cannot be planned: ask for it whole.
		resp.Body.Close()
	case http.StatusOK:
		return Probe{Resp: resp, Total: resp.ContentLength, Length: resp.ContentLength}, nil
	default: // 416: e.g. an empty file; ask for it whole
		resp.Body.Close()
	}
	return c.WholeFile(ctx)
}

// WholeFile asks for the file in one plain GET.
func (c *Client) WholeFile(ctx context.Context) (Probe, error) {
	resp, err := c.Get(ctx, 0, -1, "")
	if err != nil {
		return Probe{}, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return Probe{}, failure.Retryable(contract.OriginMisbehaved, nil, "origin answered %d to a plain GET", resp.StatusCode)
	}
	return Probe{Resp: resp, Total: resp.ContentLength, Length: resp.ContentLength}, nil
}

// Change says what a part answer revealed about the plan it was asked for.
type Change int

const (
	Unchanged      Change = iota
	VersionChanged        // the file changed: parts of the plan are of another version
	RangesCapped          // the origin serves shorter ranges than the plan's parts
)

// CheckPart insists on exactly the range [offset, offset+length) of the
// version v of a file of total bytes. It also says when the plan itself no
// longer holds: a 200 to If-Range, or other validators or content headers,
// mean the file changed; a shorter range of the same file means the origin
// caps ranges.
func CheckPart(resp *http.Response, v Version, total, offset, length int64) (Change, error) {
	if resp.StatusCode == http.StatusOK {
		return VersionChanged, failure.Retryable(contract.OriginMisbehaved, nil, "the file changed during the transfer: the origin answered 200 to a range request with If-Range %s",
			v.Validator())
	}
	if resp.StatusCode != http.StatusPartialContent {
		return Unchanged, failure.Retryable(contract.OriginMisbehaved, nil, "origin answered %d instead of 206 to a range request", resp.StatusCode)
	}
	if what := VersionOf(resp.Header).ChangedFrom(v); what != "" {
		return VersionChanged, failure.Retryable(contract.OriginMisbehaved, nil, "the file changed during the transfer: part %d-%d came with %s",
			offset, offset+length-1, what)
	}
	r, ok := ParseContentRange(resp.Header.Get("Content-Range"))
	if ok && r.Start == offset && r.End < offset+length-1 && r.Total == total {
		return RangesCapped, failure.Retryable(contract.OriginMisbehaved, nil, "origin served %d bytes of the %d-byte range at %d; the next attempt plans shorter parts",
			r.End-r.Start+1, length, offset)
	}
	if !ok || r.Start != offset || r.End != offset+length-1 || r.Total != total {
		return Unchanged, failure.Retryable(contract.OriginMisbehaved, nil, "origin answered the range %d-%d/%d with Content-Range %q",
			offset, offset+length-1, total, resp.Header.Get("Content-Range"))
	}
	if resp.ContentLength >= 0 && resp.ContentLength != length {
		return Unchanged, failure.Retryable(contract.OriginMisbehaved, nil, "origin sent Content-Length %d for a %d-byte range", resp.ContentLength, length)
	}
	return Unchanged, nil
}

// ByteRange is a parsed Content-Range: bytes Start-End/Total (Total -1 = "*").
type ByteRange struct{ Start, End, Total int64 }

// ParseContentRange parses a Content-Range header; false when it is not a
// well-formed range of bytes.
func ParseContentRange(h string) (ByteRange, bool) {
	spec, ok := strings.CutPrefix(h, "bytes ")
	if !ok {
		return ByteRange{}, false
	}
	rng, total, ok := strings.Cut(spec, "/")
	if !ok {
		return ByteRange{}, false
	}
	from, to, ok := strings.Cut(rng, "-")
	if !ok {
		return ByteRange{}, false
	}
	var r ByteRange
	var err1, err2, err3 error
	r.Start, err1 = strconv.ParseInt(from, 10, 64)
	r.End, err2 = strconv.ParseInt(to, 10, 64)
	if total == "*" {
		r.Total = -1
	} else {
		r.Total, err3 = strconv.ParseInt(total, 10, 64)
	}
	if err1 != nil || err2 != nil || err3 != nil || r.Start < 0 || r.End < r.Start || (r.Total >= 0 && r.End >= r.Total) {
		return ByteRange{}, false
	}
	return r, true
}
