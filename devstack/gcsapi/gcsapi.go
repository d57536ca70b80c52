// Package gcsapi holds the server side of the GCS JSON API that both of this
// project's stand-ins for GCS need: dev's streaming writes (devstack/gcsemu)
// and the benchmark sink (bench/gcssink). Errors, resumable chunk ranges
// and generation preconditions behave as GCS's do, so the real storage
// client reacts to them as it would in production.
package gcsapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Error answers in the JSON API's error format, which the storage client
// turns into a googleapi.Error with the status code.
func Error(w http.ResponseWriter, status int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"code": status, "message": message, "errors": []map[string]string{{"message": message}},
	}})
}

// ConditionNotMet is GCS's message for a 412.
const ConditionNotMet = "conditionNotMet: at least one of the pre-conditions you specified did not hold"

// ParseContentRange reads a resumable chunk's Content-Range: "bytes a-b/total",
// "bytes a-b/*" or "bytes */total". first is -1 for "*"; total is -1 while
// unknown.
func ParseContentRange(h string) (first, total int64, err error) {
	spec, ok := strings.CutPrefix(h, "bytes ")
	rng, tot, ok2 := strings.Cut(spec, "/")
	if !ok || !ok2 {
		return 0, 0, fmt.Errorf("Content-Range %q is not bytes a-b/total", h)
	}
	first, total = -1, -1
	if rng != "*" {
		a, _, _ := strings.Cut(rng, "-")
		if first, err = strconv.ParseInt(a, 10, 64); err != nil || first < 0 {
			return 0, 0, fmt.Errorf("Content-Range %q has no first byte", h)
		}
	}
	if tot != "*" {
		if total, err = strconv.ParseInt(tot, 10, 64); err != nil || total < 0 {
			return 0, 0, fmt.Errorf("Content-Range %q has no total", h)
		}
	}
	return first, total, nil
}

// Conditions are a request's generation preconditions.
type Conditions struct {
	IfGenerationMatch     *int64
	IfGenerationNotMatch  *int64
	IfMetagenerationMatch *int64
}

// ParseConditions reads the preconditions from a request's query.
func ParseConditions(q url.Values) (Conditions, error) {
	var c Conditions
	for key, dst := range map[string]**int64{
		"ifGenerationMatch":     &c.IfGenerationMatch,
		"ifGenerationNotMatch":  &c.IfGenerationNotMatch,
		"ifMetagenerationMatch": &c.IfMetagenerationMatch,
	} {
		if v := q.Get(key); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return c, fmt.Errorf("%s=%q is not a number", key, v)
			}
			*dst = &n
		}
	}
	return c, nil
}

// Met reports whether the conditions hold for the live object's generation
// and metageneration; generation 0 means there is no live object.
func (c Conditions) Met(generation, metageneration int64) bool {
	switch {
	case c.IfGenerationMatch != nil && *c.IfGenerationMatch != generation:
		return false
	case c.IfGenerationNotMatch != nil && *c.IfGenerationNotMatch == generation:
		return false
	case c.IfMetagenerationMatch != nil && (generation == 0 || *c.IfMetagenerationMatch != metageneration):
		return false
	}
	return true
}
