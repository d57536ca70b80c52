package workflows

import (
	"errors"
	"fmt"
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

// MaxSignedURLLifetime is the longest validity a signed URL may declare in
// X-Goog-Expires / X-Amz-Expires: both GCS V4 and S3 SigV4 cap it at seven
// days, so a larger value is not a URL any origin honours.
const MaxSignedURLLifetime = 7 * 24 * time.Hour

// SignedURLExpiry reads the expiry a signed URL carries in its query:
// GCS V4 (X-Goog-Date + X-Goog-Expires), S3 SigV4 (X-Amz-Date +
// X-Amz-Expires), CloudFront and GCS V2 (Expires=<unix seconds>) and Azure
// SAS (se=<RFC 3339>). Parameter names are matched case-insensitively. A
// lifetime beyond MaxSignedURLLifetime is ignored here (the ingress refuses
// such URLs, see CheckSignedURLExpiry).
func SignedURLExpiry(rawURL string) (time.Time, bool) {
	t, ok, err := parseSignedURLExpiry(rawURL)
	if err != nil {
		return time.Time{}, false
	}
	return t, ok
}

// CheckSignedURLExpiry is the ingress's rule for a media URL: a signed URL
// must declare a lifetime a real origin would honour, and must not expire
// before a transfer could start (within DeadlineSafetyMargin of now).
func CheckSignedURLExpiry(rawURL string, now time.Time) error {
	t, ok, err := parseSignedURLExpiry(rawURL)
	switch {
	case err != nil:
		return err
	case ok && !t.After(now.Add(DeadlineSafetyMargin)):
		return fmt.Errorf("is a signed URL that expired, or expires in less than %s", DeadlineSafetyMargin)
	}
	return nil
}

func parseSignedURLExpiry(rawURL string) (time.Time, bool, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return time.Time{}, false, nil
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
			if err != nil || err2 != nil {
				continue
			}
			// Checked before converting: seconds beyond ~9.2e9 overflow a
			// time.Duration into the past.
			if secs < 0 || secs > int64(MaxSignedURLLifetime/time.Second) {
				return time.Time{}, false, errors.New("declares a signed-URL lifetime outside 0 to 7 days")
			}
			return signedAt.Add(time.Duration(secs) * time.Second), true, nil
		}
	}
	if e := q["expires"]; e != "" {
		if unix, err := strconv.ParseInt(e, 10, 64); err == nil && unix > 0 {
			return time.Unix(unix, 0).UTC(), true, nil
		}
	}
	if se := q["se"]; se != "" && q["sig"] != "" {
		if t, err := time.Parse(time.RFC3339, se); err == nil {
			return t.UTC(), true, nil
		}
	}
	return time.Time{}, false, nil
}
