package ingress

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"time"
	"unicode/utf8"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// MaxBodyBytes bounds a notification; Wochit's are a few hundred bytes.
const MaxBodyBytes = 64 << 10

// Field limits, in characters. wochitVideoId becomes part of a workflow id
// and of object names, so it is restricted to a safe alphabet. Everything
// downstream is built to take a notification at all of these at once.
const (
	MaxVideoIDLen      = 128
	MaxTitleLen        = 1024
	MaxVideoContextLen = 2048
	MaxURLLen          = 8192
)

var videoIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// field describes one known field of the notification.
type field struct {
	name     string
	required bool
	maxLen   int // in characters
	get      func(*contract.Notification) *string
}

var fields = []field{
	{"wochitVideoId", true, MaxVideoIDLen, func(n *contract.Notification) *string { return &n.WochitVideoID }},
	{"videoUrl", true, MaxURLLen, func(n *contract.Notification) *string { return &n.VideoURL }},
	{"thumbnailUrl", true, MaxURLLen, func(n *contract.Notification) *string { return &n.ThumbnailURL }},
	{"videoContext", true, MaxVideoContextLen, func(n *contract.Notification) *string { return &n.VideoContext }},
	{"title", false, MaxTitleLen, func(n *contract.Notification) *string { return &n.Title }},
}

// decodeNotification reads and validates a notification body received at
// now. Unknown fields are accepted (Wochit may add some) and returned so
// they can be counted.
func decodeNotification(body io.Reader, urls urlRules, now time.Time) (n contract.Notification, unknown []string, apiErr *apiError) {
	raw, err := io.ReadAll(body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return n, nil, errTooLarge()
		}
		return n, nil, &apiError{Code: codeInvalidJSON, Message: "the body could not be read"}
	}
	if !utf8.Valid(raw) {
		return n, nil, &apiError{Code: codeInvalidJSON, Message: "the body is not valid UTF-8"}
	}
	members, apiErr := parseObject(raw)
	if apiErr != nil {
		return n, nil, apiErr
	}

	known := make(map[string]bool, len(fields))
	for _, f := range fields {
		known[f.name] = true
		v, present := members[f.name]
		if present && string(v) != "null" {
			if err := json.Unmarshal(v, f.get(&n)); err != nil {
				return n, nil, &apiError{Code: codeInvalidJSON, Field: f.name, Message: fmt.Sprintf("%s must be a string", f.name)}
			}
		}
	}
	for name := range members {
		if !known[name] {
			unknown = append(unknown, name)
		}
	}
	if apiErr := validate(n, urls, now); apiErr != nil {
		return n, nil, apiErr
	}
	return n, unknown, nil
}

// parseObject splits a JSON object into its members. Anything else — another
// JSON type, a repeated key (which parsers resolve differently, so two
// readers could see two different notifications), data after the object —
// is invalid_json.
func parseObject(raw []byte) (map[string]json.RawMessage, *apiError) {
	notObject := &apiError{Code: codeInvalidJSON, Message: "the body is not a JSON object"}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, notObject
	}
	members := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, notObject
		}
		name, ok := tok.(string)
		if !ok {
			return nil, notObject
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, notObject
		}
		if _, dup := members[name]; dup {
			return nil, &apiError{Code: codeInvalidJSON, Message: "the body repeats a field"}
		}
		members[name] = v
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, notObject
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &apiError{Code: codeInvalidJSON, Message: "unexpected data after the JSON object"}
	}
	return members, nil
}

// validate checks a decoded notification received at now. Messages name the
// field and the rule, never the value.
func validate(n contract.Notification, urls urlRules, now time.Time) *apiError {
	for _, f := range fields {
		v := *f.get(&n)
		if f.required && v == "" {
			return &apiError{Code: codeMissingField, Field: f.name, Message: fmt.Sprintf("%s is required and must not be empty", f.name)}
		}
		if utf8.RuneCountInString(v) > f.maxLen {
			return &apiError{Code: codeInvalidField, Field: f.name, Message: fmt.Sprintf("%s is longer than %d characters", f.name, f.maxLen)}
		}
	}
	if !videoIDPattern.MatchString(n.WochitVideoID) {
		return &apiError{Code: codeInvalidField, Field: "wochitVideoId", Message: "wochitVideoId may contain only letters, digits, '-' and '_'"}
	}
	for _, f := range []struct{ name, value string }{{"videoUrl", n.VideoURL}, {"thumbnailUrl", n.ThumbnailURL}} {
		if err := urls.check(f.value); err != nil {
			return &apiError{Code: codeInvalidField, Field: f.name, Message: fmt.Sprintf("%s %v", f.name, err)}
		}
		// A link that is dead on arrival could only end in LinkExpired; a
		// lifetime no origin honours would overflow the deadline arithmetic.
		if err := workflows.CheckSignedURLExpiry(f.value, now); err != nil {
			return &apiError{Code: codeInvalidField, Field: f.name, Message: fmt.Sprintf("%s %v", f.name, err)}
		}
	}
	return nil
}

func errTooLarge() *apiError {
	return &apiError{Code: codePayloadTooLarge, Message: fmt.Sprintf("the body is larger than %d bytes", MaxBodyBytes)}
}
