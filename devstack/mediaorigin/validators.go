package mediaorigin

import (
	"fmt"
	"hash/crc32"
	"net/http"
	"strings"
	"time"
)

// etag is the ETag header this version is served with ("" for none).
func (f *File) etag() string {
	var tag string
	switch {
	case f.NoETag:
		return ""
	case f.ETag != "":
		tag = f.ETag
	case f.Source != nil:
		tag = fmt.Sprintf(`"gen-%d"`, f.Size)
	default:
		tag = fmt.Sprintf(`"%08x"`, crc32.ChecksumIEEE(f.Body))
	}
	if f.WeakETag && !strings.HasPrefix(tag, "W/") {
		tag = "W/" + tag
	}
	return tag
}

func (f *File) setValidators(h http.Header) {
	if tag := f.etag(); tag != "" {
		h.Set("ETag", tag)
	}
	if !f.LastModified.IsZero() {
		h.Set("Last-Modified", f.LastModified.UTC().Format(http.TimeFormat))
	}
}

// ifRangeMatches applies RFC 9110's If-Range: a range is served only if the
// validator names this very version — a strong ETag compared strongly, or
// exactly the Last-Modified date.
func (f *File) ifRangeMatches(v string) bool {
	if v == "" {
		return true
	}
	if strings.HasPrefix(v, `"`) || strings.HasPrefix(v, "W/") {
		tag := f.etag()
		return tag != "" && !strings.HasPrefix(tag, "W/") && v == tag
	}
	t, err := http.ParseTime(v)
	return err == nil && !f.LastModified.IsZero() && t.Equal(f.LastModified.UTC().Truncate(time.Second))
}
