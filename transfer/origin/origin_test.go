package origin_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/wochit-ingest/wochit-ingest/transfer/origin"
)

func TestParseContentRange(t *testing.T) {
	for h, want := range map[string]*origin.ByteRange{
		"bytes 0-9/100":   {Start: 0, End: 9, Total: 100},
		"bytes 90-99/*":   {Start: 90, End: 99, Total: -1},
		"bytes 0-100/100": nil, // past the end
		"bytes 9-0/100":   nil,
		"items 0-9/100":   nil,
		"bytes 0-9":       nil,
	} {
		got, ok := origin.ParseContentRange(h)
		if ok != (want != nil) || (ok && got != *want) {
			t.Errorf("ParseContentRange(%q) = %+v, %v; want %+v", h, got, ok, want)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"":                              0,
		"7":                             7 * time.Second,
		"-1":                            0,
		"Wed, 02 Dec 2026 12:01:00 GMT": time.Minute,
		"Wed, 02 Dec 2026 11:00:00 GMT": 0, // past
		"soon":                          0,
	} {
		if got := origin.ParseRetryAfter(v, now); got != want {
			t.Errorf("ParseRetryAfter(%q) = %s, want %s", v, got, want)
		}
	}
}

// Only a strong ETag, or else a valid Last-Modified, names a version.
func TestValidator(t *testing.T) {
	for _, tt := range []struct {
		etag, lastModified, want string
	}{
		{`"abc"`, "", `"abc"`},
		{`W/"abc"`, "", ""},
		{`W/"abc"`, "Wed, 02 Dec 2026 12:00:00 GMT", "Wed, 02 Dec 2026 12:00:00 GMT"},
		{"", "yesterday", ""},
	} {
		h := http.Header{}
		if tt.etag != "" {
			h.Set("ETag", tt.etag)
		}
		if tt.lastModified != "" {
			h.Set("Last-Modified", tt.lastModified)
		}
		if got := origin.VersionOf(h).Validator(); got != tt.want {
			t.Errorf("validator of ETag %q, Last-Modified %q = %q, want %q", tt.etag, tt.lastModified, got, tt.want)
		}
	}
}
