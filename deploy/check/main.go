// Command check verifies the monitoring files offline, with Prometheus's own
// parsers (github.com/prometheus/prometheus at the version in go.mod):
//
//   - deploy/prometheus/alerts.yaml is a valid rule file (rulefmt: every
//     expression parses as PromQL, every annotation template parses);
//   - every target expression of every dashboard in deploy/grafana parses as
//     PromQL, once Grafana's variables are replaced by sample values;
//   - deploy/prometheus/metrics.txt lists exactly the metric names the rules
//     and the dashboards select: the end-to-end test
//     TestMonitoringMetricsAreExported reads it and fails when a name is
//     missing from the live /metrics of the ingress or the worker;
//   - the Kubernetes rule objects (the Prometheus Operator's PrometheusRule
//     and GKE Managed Prometheus's Rules) carry the rule file's groups.
//
// metrics.txt and the rule objects are generated: -write rewrites them.
//
//	go -C deploy/check run . [-write]
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

const (
	rulesFile   = "deploy/prometheus/alerts.yaml"
	metricsFile = "deploy/prometheus/metrics.txt"
	grafanaDir  = "deploy/grafana"
)

// ruleObjects are the Kubernetes objects that ship the rule file's groups:
// the file's path and the header before "spec:\n  groups:".
var ruleObjects = []struct{ path, header string }{
	{"deploy/k8s/components/prometheus-operator/prometheusrule.yaml", `# GENERATED from deploy/prometheus/alerts.yaml by ` + "`go -C deploy/check run . -write`" + `;
# do not edit. The alert rules for the Prometheus Operator; your Prometheus
# must select them (its ruleSelector, e.g. kube-prometheus-stack's
# "release: <name>" label: add it with a labels entry or a patch).
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: wochit-ingest
  namespace: wochit-ingest # the base's; an overlay's namespace: overrides it
  labels:
    app.kubernetes.io/name: wochit-ingest
    app.kubernetes.io/part-of: wochit-ingest
`},
	{"deploy/k8s/components/gke-managed-prometheus/rules.yaml", `# GENERATED from deploy/prometheus/alerts.yaml by ` + "`go -C deploy/check run . -write`" + `;
# do not edit. The alert rules for GKE Managed Prometheus's rule evaluator
# (alerts go to the Alertmanager its OperatorConfig names).
apiVersion: monitoring.googleapis.com/v1
kind: Rules
metadata:
  name: wochit-ingest
  namespace: wochit-ingest # the base's; an overlay's namespace: overrides it
  labels:
    app.kubernetes.io/name: wochit-ingest
    app.kubernetes.io/part-of: wochit-ingest
`},
}

func main() {
	root := flag.String("root", "../..", "the repository's root")
	write := flag.Bool("write", false, "rewrite the generated files instead of checking them")
	flag.Parse()
	if err := run(*root, *write); err != nil {
		fmt.Fprintln(os.Stderr, "check:", err)
		os.Exit(1)
	}
}

func run(root string, write bool) error {
	var errs []error
	names := map[string]bool{}

	rules, err := os.ReadFile(filepath.Join(root, rulesFile))
	if err != nil {
		return err
	}
	exprs, err := ruleExprs(rules)
	if err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", rulesFile, err))
	}
	dashboards, err := filepath.Glob(filepath.Join(root, grafanaDir, "*.json"))
	if err != nil {
		return err
	}
	if len(dashboards) == 0 {
		errs = append(errs, fmt.Errorf("no dashboard in %s", grafanaDir))
	}
	for _, path := range dashboards {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		targets, err := dashboardExprs(b)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
			continue
		}
		for where, expr := range targets {
			exprs[filepath.Base(path)+": "+where] = expr
		}
	}
	for _, where := range sorted(exprs) {
		used, err := metricNames(exprs[where])
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
			continue
		}
		for _, n := range used {
			names[n] = true
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}

	if !bytes.Contains(rules, []byte("\ngroups:\n")) {
		return fmt.Errorf("%s: no top-level \"groups:\" line", rulesFile)
	}
	generated := map[string][]byte{metricsFile: metricsList(sorted(names))}
	for _, obj := range ruleObjects {
		generated[obj.path] = ruleObject(obj.header, rules)
	}
	for _, path := range sorted(generated) {
		full := filepath.Join(root, path)
		if write {
			if err := os.WriteFile(full, generated[path], 0o644); err != nil {
				return err
			}
			continue
		}
		have, err := os.ReadFile(full)
		if err != nil || !bytes.Equal(have, generated[path]) {
			errs = append(errs, fmt.Errorf("%s is stale: run `go -C deploy/check run . -write`", path))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	fmt.Printf("check: %d expressions parse; they use %d metrics (%s)\n", len(exprs), len(names), metricsFile)
	return nil
}

func sorted[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

var promql = parser.NewParser(parser.Options{})

// ruleExprs validates a rule file as Prometheus loads one and returns its
// expressions by "group/alert".
func ruleExprs(content []byte) (map[string]string, error) {
	groups, errs := rulefmt.Parse(content, false, model.UTF8Validation, promql, slog.New(slog.DiscardHandler))
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	exprs := map[string]string{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			name := r.Alert
			if name == "" {
				name = r.Record
			}
			if r.Alert != "" && (r.Labels["severity"] == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "") {
				return nil, fmt.Errorf("alert %s: want a severity label and summary and description annotations", r.Alert)
			}
			exprs[rulesFile+": "+g.Name+"/"+name] = r.Expr
		}
	}
	if len(exprs) == 0 {
		return nil, errors.New("no rules")
	}
	return exprs, nil
}

// dashboard is the part of a Grafana dashboard model the check reads.
type dashboard struct {
	UID    string  `json:"uid"`
	Title  string  `json:"title"`
	Panels []panel `json:"panels"`
}

type panel struct {
	ID      int     `json:"id"`
	Title   string  `json:"title"`
	Type    string  `json:"type"`
	Panels  []panel `json:"panels"` // a collapsed row's
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
}

// dashboardExprs returns a dashboard's target expressions by panel and
// refId, with Grafana's variables replaced.
func dashboardExprs(b []byte) (map[string]string, error) {
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, err
	}
	if d.UID == "" || d.Title == "" {
		return nil, errors.New("want a uid and a title")
	}
	exprs := map[string]string{}
	ids := map[int]bool{}
	var walk func([]panel) error
	walk = func(panels []panel) error {
		for _, p := range panels {
			if ids[p.ID] {
				return fmt.Errorf("panel id %d used twice", p.ID)
			}
			ids[p.ID] = true
			if p.Type != "row" && len(p.Targets) == 0 && p.Type != "text" {
				return fmt.Errorf("panel %q has no query", p.Title)
			}
			for _, t := range p.Targets {
				if strings.TrimSpace(t.Expr) == "" {
					return fmt.Errorf("panel %q target %s has no expression", p.Title, t.RefID)
				}
				exprs[fmt.Sprintf("panel %q/%s", p.Title, t.RefID)] = grafanaVariables(t.Expr)
			}
			if err := walk(p.Panels); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(d.Panels); err != nil {
		return nil, err
	}
	if len(exprs) == 0 {
		return nil, errors.New("no queries")
	}
	return exprs, nil
}

var grafanaVariable = regexp.MustCompile(`\$\{?(\w+)\}?`)

// grafanaVariables replaces Grafana's interval variables with a duration and
// any other variable with a label value, as Grafana would before it sends
// the query.
func grafanaVariables(expr string) string {
	return grafanaVariable.ReplaceAllStringFunc(expr, func(v string) string {
		switch strings.Trim(v, "${}") {
		case "__rate_interval", "__interval", "__range":
			return "5m"
		case "__interval_ms", "__range_ms", "__range_s":
			return "300000"
		}
		return "value"
	})
}

// metricNames parses expr and returns the metric names its selectors use.
// A selector without a literal name would defeat the end-to-end check.
func metricNames(expr string) ([]string, error) {
	e, err := promql.ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var names []string
	var bad error
	parser.Inspect(e, func(node parser.Node, _ []parser.Node) error {
		vs, ok := node.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		for _, m := range vs.LabelMatchers {
			if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
				name = m.Value
			}
		}
		if name == "" {
			bad = fmt.Errorf("selector %s has no metric name", vs)
			return nil
		}
		names = append(names, name)
		return nil
	})
	return names, bad
}

func metricsList(names []string) []byte {
	var b bytes.Buffer
	b.WriteString("# GENERATED by `go -C deploy/check run . -write`: the metric names that\n" +
		"# deploy/prometheus/alerts.yaml and deploy/grafana/*.json select. The\n" +
		"# end-to-end test TestMonitoringMetricsAreExported finds each on the live\n" +
		"# /metrics of the ingress or the worker.\n")
	for _, n := range names {
		b.WriteString(n + "\n")
	}
	return b.Bytes()
}

// ruleObject is header, then the rule file's groups under spec (its
// comments before "groups:" dropped, its lines indented by two).
func ruleObject(header string, rules []byte) []byte {
	var b bytes.Buffer
	b.WriteString(header)
	b.WriteString("spec:\n")
	_, groups, _ := bytes.Cut(rules, []byte("\ngroups:\n"))
	b.WriteString("  groups:\n")
	for _, line := range strings.SplitAfter(string(groups), "\n") {
		if strings.TrimSpace(line) != "" {
			b.WriteString("  ")
		}
		b.WriteString(line)
	}
	return b.Bytes()
}
