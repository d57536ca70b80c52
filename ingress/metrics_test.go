package ingress_test

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/wochit-ingest/wochit-ingest/ingress"
)

// scrape reads /metrics into "name{labels}" → value.
func scrape(t *testing.T, base string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics answered %d", resp.StatusCode)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("unparseable metrics line %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

func TestMetrics(t *testing.T) {
	f := newFixture(t, temporalServer(t), ingress.Config{})
	n := notification(uniqueID(t))
	n["addedLater"], n["alsoNew"] = 1, "x"
	body := jsonBody(t, n)
	for _, req := range []request{
		{path: "/webhooks/wochit", header: jsonHeader(), body: body},                                       // started
		{path: "/webhooks/wochit", header: jsonHeader(), body: body},                                       // duplicate
		{path: "/webhooks/wochit", header: jsonHeader(), body: withField(t, uniqueID(t), "videoUrl", nil)}, // missing_field
		{path: "/webhooks/wochit", header: jsonHeader("Content-Encoding", "gzip"), body: body},             // unsupported_media_type
	} {
		do(t, f.url, req)
	}

	got := scrape(t, f.admin)
	for series, want := range map[string]float64{
		`wochit_ingress_requests_total{code="none",outcome="started"}`:                    1,
		`wochit_ingress_requests_total{code="none",outcome="duplicate"}`:                  1,
		`wochit_ingress_requests_total{code="missing_field",outcome="rejected"}`:          1,
		`wochit_ingress_requests_total{code="unsupported_media_type",outcome="rejected"}`: 1,
		`wochit_ingress_duplicates_total`:                                                 1,
		`wochit_ingress_unknown_fields_total`:                                             4, // 2 fields × (started + duplicate)
		`wochit_ingress_rate_limited_total{reason="source"}`:                              0,
		`wochit_ingress_rate_limited_total{reason="starts"}`:                              0,
		`wochit_ingress_workflow_start_duration_seconds_count{result="started"}`:          1,
		`wochit_ingress_workflow_start_duration_seconds_count{result="duplicate"}`:        1,
		`wochit_ingress_workflow_starts_in_flight`:                                        0,
	} {
		if v, ok := got[series]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", series, v, ok, want)
		}
	}
	if _, ok := got["go_goroutines"]; !ok {
		t.Error("the Go runtime metrics are missing")
	}
	// Every server has its own registry: this one saw nothing.
	other := newFixture(t, temporalServer(t), ingress.Config{})
	if v := scrape(t, other.admin)[`wochit_ingress_duplicates_total`]; v != 0 {
		t.Errorf("a fresh server reports %v duplicates, want 0", v)
	}
}
