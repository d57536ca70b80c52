package origin

import (
	"net/http"
	"slices"
)

// CloseDelimited reports whether resp's body ends only where the origin
// closes the connection (RFC 9112, 6.3): an HTTP/1.x answer with neither
// Content-Length nor chunked transfer coding. Such a body cut short by a
// dropped connection reads exactly like a whole one — net/http returns
// io.EOF either way — so only the file's own structure can tell.
//
// Every other body is delimited: by its Content-Length, which net/http
// holds the body to (a shorter one fails with io.ErrUnexpectedEOF), by the
// chunked coding's last chunk (likewise), or on HTTP/2 by END_STREAM (a
// reset stream fails the read). A 206's Content-Range declares its length
// too, and the engine counts its bytes against it.
func CloseDelimited(resp *http.Response) bool {
	return resp.ProtoMajor == 1 && resp.ContentLength < 0 && !slices.Contains(resp.TransferEncoding, "chunked") &&
		resp.StatusCode != http.StatusPartialContent
}
