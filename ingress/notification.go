package ingress

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"unicode/utf8"

	"wochit-ingest/workflows"
)

// MaxBodyBytes bounds a notification; Wochit's are a few hundred bytes.
const MaxBodyBytes = 64 << 10

// Field limits. wochitVideoId becomes part of a workflow id and of object
// names, so it is restricted to a safe alphabet.
const (
	maxVideoIDLen      = 128
	maxTitleLen        = 1024
	maxVideoContextLen = 2048
	maxURLLen          = 8192
)

var videoIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// decodeNotification reads and validates a notification body. Unknown fields
// are accepted (Wochit may add some) and returned so they can be counted.
func decodeNotification(body io.Reader, urls urlRules) (n workflows.Notification, unknown []string, apiErr *apiError) {
	raw, err := io.ReadAll(body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return n, nil, &apiError{Code: codePayloadTooLarge, Message: fmt.Sprintf("the body is larger than %d bytes", MaxBodyBytes)}
		}
		return n, nil, &apiError{Code: codeInvalidJSON, Message: "the body could not be read"}
	}

	var fields map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&fields); err != nil || fields == nil {
		return n, nil, &apiError{Code: codeInvalidJSON, Message: "the body is not a JSON object"}
	}
	if _, err := dec.Token(); err != io.EOF {
		return n, nil, &apiError{Code: codeInvalidJSON, Message: "unexpected data after the JSON object"}
	}

	targets := []struct {
		name     string
		dst      *string
		required bool
		maxLen   int
	}{
		{"wochitVideoId", &n.WochitVideoID, true, maxVideoIDLen},
		{"videoUrl", &n.VideoURL, true, maxURLLen},
		{"thumbnailUrl", &n.ThumbnailURL, true, maxURLLen},
		{"videoContext", &n.VideoContext, true, maxVideoContextLen},
		{"title", &n.Title, false, maxTitleLen},
	}
	known := make(map[string]bool, len(targets))
	for _, t := range targets {
		known[t.name] = true
		v, present := fields[t.name]
		if present && string(v) != "null" {
			if err := json.Unmarshal(v, t.dst); err != nil {
				return n, nil, &apiError{Code: codeInvalidJSON, Field: t.name, Message: fmt.Sprintf("%s must be a string", t.name)}
			}
		}
		if t.required && *t.dst == "" {
			return n, nil, &apiError{Code: codeMissingField, Field: t.name, Message: fmt.Sprintf("%s is required and must not be empty", t.name)}
		}
		if utf8.RuneCountInString(*t.dst) > t.maxLen {
			return n, nil, &apiError{Code: codeInvalidField, Field: t.name, Message: fmt.Sprintf("%s is longer than %d characters", t.name, t.maxLen)}
		}
	}
	for name := range fields {
		if !known[name] {
			unknown = append(unknown, name)
		}
	}

	if !videoIDPattern.MatchString(n.WochitVideoID) {
		return n, nil, &apiError{Code: codeInvalidField, Field: "wochitVideoId", Message: "wochitVideoId may contain only letters, digits, '-' and '_'"}
	}
	for _, f := range []struct{ name, value string }{{"videoUrl", n.VideoURL}, {"thumbnailUrl", n.ThumbnailURL}} {
		if err := urls.check(f.value); err != nil {
			return n, nil, &apiError{Code: codeInvalidField, Field: f.name, Message: fmt.Sprintf("%s %v", f.name, err)}
		}
	}
	return n, unknown, nil
}

// urlRules says which media URLs the ingress accepts.
type urlRules struct {
	allowHTTP bool // plain http (dev); production accepts https only
}

func (r urlRules) check(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("is not a valid URL")
	}
	switch {
	case !u.IsAbs() || u.Host == "":
		return errors.New("must be an absolute URL")
	case u.Scheme != "https" && !(r.allowHTTP && u.Scheme == "http"):
		if r.allowHTTP {
			return errors.New("must use http or https")
		}
		return errors.New("must use https")
	case u.User != nil:
		return errors.New("must not contain credentials")
	}
	return nil
}
