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

// Only an ETag that is neither weak nor made of the modification time names
// one version for good; a Last-Modified date, and the ETags nginx, Apache
// and IIS build from it, may be shared by two versions of one size.
func TestOpaque(t *testing.T) {
	for _, tt := range []struct {
		etag, lastModified string
		want               bool
	}{
		{`"d41d8cd98f00b204e9800998ecf8427e"`, "", true},   // an MD5 (S3, GCS)
		{`"d41d8cd98f00b204e9800998ecf8427e-3"`, "", true}, // S3 multipart
		{`"0x8D4BCC2E4835CD0"`, "", true},                  // Azure
		{`"gen-1234"`, "", true},
		{`"abc"`, "Wed, 02 Dec 2026 12:00:00 GMT", true},
		{`"6933a1b0-100005"`, "", false},                    // nginx: mtime-size
		{`"2a3f01-100005-5f3e1a2b3c4d5"`, "", false},        // Apache: inode-size-mtime µs
		{`"100005-5f3e1a2b3c4d5"`, "", false},               // Apache 2.4: size-mtime µs
		{`"100005-5f3e1a2b3c4d5-gzip"`, "", false},          // and mod_deflate's suffix
		{`"80b1c2a3e4f5d601:0"`, "", false},                 // IIS: FILETIME:change number
		{"", "Wed, 02 Dec 2026 12:00:00 GMT", false},        // Last-Modified alone
		{`W/"abc"`, "Wed, 02 Dec 2026 12:00:00 GMT", false}, // a weak ETag: the date is the validator
		{"", "", false},
	} {
		h := http.Header{}
		if tt.etag != "" {
			h.Set("ETag", tt.etag)
		}
		if tt.lastModified != "" {
			h.Set("Last-Modified", tt.lastModified)
		}
		if got := origin.VersionOf(h).Opaque(); got != tt.want {
			t.Errorf("ETag %q, Last-Modified %q: Opaque = %v, want %v", tt.etag, tt.lastModified, got, tt.want)
		}
	}
}

func TestServedWithinModifiedSecond(t *testing.T) {
	modified := "Wed, 02 Dec 2026 12:00:00 GMT"
	for _, tt := range []struct {
		lastModified, date string
		want               bool
	}{
		{modified, "Wed, 02 Dec 2026 12:00:01 GMT", false},
		{modified, "Wed, 02 Dec 2026 13:00:00 GMT", false},
		{modified, modified, true},
		{modified, "Wed, 02 Dec 2026 11:00:00 GMT", true}, // a clock behind: the date cannot vouch
		{modified, "", true},
		{"", "Wed, 02 Dec 2026 12:00:01 GMT", false}, // no date to judge
	} {
		h := http.Header{}
		h.Set("Last-Modified", tt.lastModified)
		h.Set("Date", tt.date)
		if got := origin.ServedWithinModifiedSecond(h); got != tt.want {
			t.Errorf("Last-Modified %q, Date %q: %v, want %v", tt.lastModified, tt.date, got, tt.want)
		}
	}
}
