package origin

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// A file copied in parts is read by many requests, possibly across attempts
// and workers, and must come out as one version of the file. Each part is
// asked for with If-Range naming the version the plan was made from, so an
// origin whose file changed answers 200 instead of a range of the new
// version; every part answer must also carry the same validators and
// content headers as the first one.

// Version is what a response says about the version of the file.
type Version struct {
	ETag, LastModified, ContentType, ContentEncoding string
}

// VersionOf reads the version headers of a response.
func VersionOf(h http.Header) Version {
	enc := h.Get("Content-Encoding")
	if strings.EqualFold(enc, "identity") {
		enc = ""
	}
	return Version{
		ETag:            h.Get("ETag"),
		LastModified:    h.Get("Last-Modified"),
		ContentType:     h.Get("Content-Type"),
		ContentEncoding: enc,
	}
}

// Validator is the strong validator that names this version, as If-Range
// sends it: a strong ETag, or else the Last-Modified date (which, together
// with the file's size, a plan records). "" when there is none — a weak
// ETag (W/…) may be shared by byte-different versions, so it does not count.
func (v Version) Validator() string {
	switch {
	case v.ETag != "" && !strings.HasPrefix(v.ETag, "W/") && len(v.ETag) <= MaxValidatorLen:
		return v.ETag
	case v.LastModified != "":
		if _, err := http.ParseTime(v.LastModified); err == nil {
			return v.LastModified
		}
	}
	return ""
}

// MaxValidatorLen keeps a validator whole in part metadata.
const MaxValidatorLen = 512

// ChangedFrom says which header of v differs from was; "" when none does.
func (v Version) ChangedFrom(was Version) string {
	for _, h := range []struct{ name, now, was string }{
		{"ETag", v.ETag, was.ETag},
		{"Last-Modified", v.LastModified, was.LastModified},
		{"Content-Type", v.ContentType, was.ContentType},
		{"Content-Encoding", v.ContentEncoding, was.ContentEncoding},
	} {
		if h.now != h.was {
			return fmt.Sprintf("%s %q, was %q", h.name, h.now, h.was)
		}
	}
	return ""
}

// Hashes are the checksums an origin declares for the whole file: GCS
// sends X-Goog-Hash (crc32c and md5), others Content-MD5.
type Hashes struct {
	CRC32C    uint32
	HasCRC32C bool
	MD5       []byte // nil: none declared
}

// DeclaredHashes reads the checksums a response declares.
func DeclaredHashes(h http.Header) Hashes {
	var s Hashes
	for _, v := range h.Values("X-Goog-Hash") {
		for _, part := range strings.Split(v, ",") {
			k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
			if !ok {
				continue
			}
			b, err := base64.StdEncoding.DecodeString(val)
			switch {
			case err != nil:
			case k == "crc32c" && len(b) == 4:
				s.CRC32C, s.HasCRC32C = binary.BigEndian.Uint32(b), true
			case k == "md5" && len(b) == 16:
				s.MD5 = b
			}
		}
	}
	if s.MD5 == nil {
		if b, err := base64.StdEncoding.DecodeString(h.Get("Content-MD5")); err == nil && len(b) == 16 {
			s.MD5 = b
		}
	}
	return s
}

// ParseRetryAfter reads delta-seconds or an HTTP date; zero when absent or bad.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs < 0 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
