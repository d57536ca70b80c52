package workflows

import (
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	// LinkLifetime is how long Wochit's media links stay valid after the
	// notification.
	LinkLifetime = 24 * time.Hour
	// DeadlineSafetyMargin is kept free before a link expires: no transfer
	// attempt is started later than expiry − margin.
	DeadlineSafetyMargin = 10 * time.Minute
)

// LinkExpiry is when a media link stops working: 24 hours after the
// notification, or earlier when the URL is a signed URL that says so.
func LinkExpiry(receivedAt time.Time, rawURL string) time.Time {
	expiry := receivedAt.Add(LinkLifetime)
	if signed, ok := SignedURLExpiry(rawURL); ok && signed.Before(expiry) {
		return signed
	}
	return expiry
}

// TransferDeadline is the moment after which no attempt to copy the file
// behind rawURL may start.
func TransferDeadline(receivedAt time.Time, rawURL string) time.Time {
	return LinkExpiry(receivedAt, rawURL).Add(-DeadlineSafetyMargin)
}

// SignedURLExpiry reads the expiry a signed URL carries in its query:
// GCS V4 (X-Goog-Date + X-Goog-Expires), S3 SigV4 (X-Amz-Date +
// X-Amz-Expires), CloudFront and GCS V2 (Expires=<unix seconds>) and Azure
// SAS (se=<RFC 3339>). Parameter names are matched case-insensitively.
func SignedURLExpiry(rawURL string) (time.Time, bool) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return time.Time{}, false
	}
	// Match parameter names case-insensitively. The keys are visited in
	// sorted order so that, should a URL carry two spellings of one name,
	// the same one wins on every replay.
	query := u.Query()
	keys := slices.Sorted(maps.Keys(query)) //workflowcheck:ignore (sorted: order-independent)
	q := map[string]string{}
	for _, k := range keys {
		if v := query[k]; len(v) > 0 {
			if _, seen := q[strings.ToLower(k)]; !seen {
				q[strings.ToLower(k)] = v[0]
			}
		}
	}
	for _, p := range []struct{ date, expires string }{
		{"x-goog-date", "x-goog-expires"},
		{"x-amz-date", "x-amz-expires"},
	} {
		if d, e := q[p.date], q[p.expires]; d != "" && e != "" {
			signedAt, err := time.Parse("20060102T150405Z", d)
			secs, err2 := strconv.ParseInt(e, 10, 64)
			if err == nil && err2 == nil && secs >= 0 {
				return signedAt.Add(time.Duration(secs) * time.Second), true
			}
		}
	}
	if e := q["expires"]; e != "" {
		if unix, err := strconv.ParseInt(e, 10, 64); err == nil && unix > 0 {
			return time.Unix(unix, 0).UTC(), true
		}
	}
	if se := q["se"]; se != "" && q["sig"] != "" {
		if t, err := time.Parse(time.RFC3339, se); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}
