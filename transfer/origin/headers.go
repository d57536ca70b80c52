package origin

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/http"
	"regexp"
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

// Opaque reports whether Validator is a strong ETag that is not built from
// the file's modification time. RFC 9110 (8.8.2.2) makes Last-Modified
// implicitly weak: its resolution is a second, and a replacement that keeps
// the time (cp -p, rsync -a) keeps it too. ETags that nginx
// ("<hex mtime>-<hex size>"), Apache ("<hex inode>-<hex size>-<hex mtime
// µs>", "<hex size>-<hex mtime µs>", with a "-gzip" suffix from
// mod_deflate) or IIS ("<hex FILETIME>:<change number>") make of the
// modification time and size inherit that: two versions of one size can
// share them. Such a validator still names one version between the requests
// of one attempt (RFC 9110 13.1.5, see ServedWithinModifiedSecond), but
// parts an earlier attempt kept under it must be checked against the origin
// again before they are used.
func (v Version) Opaque() bool {
	tag := v.Validator()
	return tag != "" && tag == v.ETag && !mtimeETag.MatchString(tag)
}

// mtimeETag matches the ETags web servers build from a file's modification
// time, size and inode: two or three fields of hex digits (at most 16 each,
// so an S3 multipart ETag, "<32 hex digits of MD5>-<parts>", is not one).
var mtimeETag = regexp.MustCompile(`^"[0-9a-fA-F]{1,16}([-:][0-9a-fA-F]{1,16}){1,2}(-(gzip|br|zstd|deflate))?"$`)

// ServedWithinModifiedSecond reports that an answer was served within a
// second of its Last-Modified date, or without a Date: a second change
// within that second would keep the date, so RFC 9110 (8.8.2.2, 13.1.5)
// makes it a weak validator even for the requests of one attempt. False
// without a Last-Modified date.
func ServedWithinModifiedSecond(h http.Header) bool {
	modified, err := http.ParseTime(h.Get("Last-Modified"))
	if err != nil {
		return false
	}
	date, err := http.ParseTime(h.Get("Date"))
	return err != nil || date.Before(modified.Add(time.Second))
}

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
