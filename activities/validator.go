package activities

import (
	"fmt"
	"net/http"
	"strings"
)

// A file copied in parts is read by many requests, possibly across attempts
// and workers, and must come out as one version of the file. Each part is
// asked for with If-Range naming the version the plan was made from, so an
// origin whose file changed answers 200 instead of a range of the new
// version; every part answer must also carry the same validators and
// content headers as the first one.

// sourceVersion is what a response says about the version of the file.
type sourceVersion struct {
	etag, lastModified, contentType, contentEncoding string
}

func versionOf(h http.Header) sourceVersion {
	enc := h.Get("Content-Encoding")
	if strings.EqualFold(enc, "identity") {
		enc = ""
	}
	return sourceVersion{
		etag:            h.Get("ETag"),
		lastModified:    h.Get("Last-Modified"),
		contentType:     h.Get("Content-Type"),
		contentEncoding: enc,
	}
}

// validator is the strong validator that names this version, as If-Range
// sends it: a strong ETag, or else the Last-Modified date (which, together
// with the file's size, the plan records). "" when there is none — a weak
// ETag (W/…) may be shared by byte-different versions, so it does not count.
func (v sourceVersion) validator() string {
	switch {
	case v.etag != "" && !strings.HasPrefix(v.etag, "W/") && len(v.etag) <= maxValidatorLen:
		return v.etag
	case v.lastModified != "":
		if _, err := http.ParseTime(v.lastModified); err == nil {
			return v.lastModified
		}
	}
	return ""
}

// maxValidatorLen keeps the validator whole in part metadata.
const maxValidatorLen = 512

// changedFrom says which header of v differs from was; "" when none does.
func (v sourceVersion) changedFrom(was sourceVersion) string {
	for _, h := range []struct{ name, now, was string }{
		{"ETag", v.etag, was.etag},
		{"Last-Modified", v.lastModified, was.lastModified},
		{"Content-Type", v.contentType, was.contentType},
		{"Content-Encoding", v.contentEncoding, was.contentEncoding},
	} {
		if h.now != h.was {
			return fmt.Sprintf("%s %q, was %q", h.name, h.now, h.was)
		}
	}
	return ""
}
