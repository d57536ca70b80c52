package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The check refuses what Prometheus or Grafana would: an expression that
// does not parse, a selector without a metric name, an alert without its
// severity or annotations, a dashboard panel without a query. Mutation:
// drop metricNames's check for an empty name — "{kind="video"} accepted".
func TestCheckRefusesBrokenMonitoring(t *testing.T) {
	if _, err := ruleExprs([]byte("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: sum(rate(x[5m])\n        labels: {severity: warning}\n        annotations: {summary: s, description: d}\n")); err == nil {
		t.Error("a rule whose expression does not parse was accepted")
	}
	if _, err := ruleExprs([]byte("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: x > 0\n")); err == nil {
		t.Error("an alert without severity and annotations was accepted")
	}
	if _, err := ruleExprs([]byte("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: x > 0\n        labels: {severity: warning}\n        annotations: {summary: '{{ $value | nosuchfunc }}', description: d}\n")); err == nil {
		t.Error("an annotation template that does not parse was accepted")
	}
	for expr, want := range map[string]string{
		`sum by (kind) (rate(wochit_transfers_total{kind="video"}[5m])) / on() group_left sum(up)`: "up wochit_transfers_total",
		`histogram_quantile(0.95, sum by (le) (rate({__name__="a_bucket"}[5m])))`:                  "a_bucket",
	} {
		names, err := metricNames(expr)
		slices.Sort(names)
		if err != nil || strings.Join(names, " ") != want {
			t.Errorf("metricNames(%s) = %v, %v; want %s", expr, names, err, want)
		}
	}
	for _, expr := range []string{`sum(rate(x[5m])`, `{kind="video"}`, `rate(x[5m]) +`} {
		if _, err := metricNames(expr); err == nil {
			t.Errorf("metricNames(%s) accepted it", expr)
		}
	}
	if _, err := dashboardExprs([]byte(`{"uid":"u","title":"t","panels":[{"id":1,"type":"timeseries","title":"p","targets":[{"refId":"A","expr":"rate(x[$__rate_interval]"}]}]}`)); err != nil {
		t.Errorf("dashboardExprs only collects, it does not parse: %v", err)
	}
	for _, bad := range []string{
		`{"title":"t","panels":[]}`,
		`{"uid":"u","title":"t","panels":[{"id":1,"type":"timeseries","title":"p","targets":[]}]}`,
		`{"uid":"u","title":"t","panels":[{"id":1,"type":"row","title":"r","panels":[{"id":1,"type":"timeseries","title":"p","targets":[{"refId":"A","expr":"x"}]}]}]}`,
	} {
		if _, err := dashboardExprs([]byte(bad)); err == nil {
			t.Errorf("dashboard %s was accepted", bad)
		}
	}
	if got := grafanaVariables(`rate(x{q="$queue"}[$__rate_interval]) * ${factor}`); got != `rate(x{q="value"}[5m]) * value` {
		t.Errorf("grafanaVariables = %s", got)
	}
}

// The repository's own files pass, and a stale generated file fails: the
// list the end-to-end test reads and the rule objects must follow the
// rules and dashboards. Mutation: skip the comparison in run — the stale
// copy passes.
func TestRepositoryFilesAndStaleness(t *testing.T) {
	if err := run("../..", false); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	for _, dir := range []string{"deploy/prometheus", "deploy/grafana", "deploy/k8s/components/prometheus-operator", "deploy/k8s/components/gke-managed-prometheus"} {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
		entries, _ := os.ReadDir(filepath.Join("../..", dir))
		for _, e := range entries {
			if e.IsDir() {
				continue
			}
			b, err := os.ReadFile(filepath.Join("../..", dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(root, dir, e.Name()), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := run(root, false); err != nil {
		t.Fatalf("the copy fails: %v", err)
	}
	rules := filepath.Join(root, rulesFile)
	b, _ := os.ReadFile(rules)
	b = []byte(strings.Replace(string(b), "wochit_transfer_integrity_failures_total", "wochit_transfer_integrity_failures_renamed_total", 1))
	if err := os.WriteFile(rules, b, 0o644); err != nil {
		t.Fatal(err)
	}
	err := run(root, false)
	if err == nil || !strings.Contains(err.Error(), "metrics.txt is stale") || !strings.Contains(err.Error(), "prometheusrule.yaml is stale") {
		t.Fatalf("after a rule changed: %v; want metrics.txt and the rule objects stale", err)
	}
	if err := run(root, true); err != nil {
		t.Fatal(err)
	}
	list, _ := os.ReadFile(filepath.Join(root, metricsFile))
	if !strings.Contains(string(list), "\nwochit_transfer_integrity_failures_renamed_total\n") {
		t.Errorf("-write did not list the new name:\n%s", list)
	}
	if err := run(root, false); err != nil {
		t.Errorf("after -write: %v", err)
	}
}
