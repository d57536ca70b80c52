// Command schemagen writes the JSON schemas kubeconform validates deploy/k8s
// against, from the upstream sources of the versions we target:
//
//   - Kubernetes' own OpenAPI spec (api/openapi-spec/swagger.json in the
//     k8s.io/kubernetes module), one file per group/version/kind;
//   - CRDs, with metadata checked as the Kubernetes ObjectMeta: KEDA's
//     (config/crd/bases in the github.com/kedacore/keda/v2 module), the
//     Prometheus Operator's (example/prometheus-operator-crd in
//     github.com/prometheus-operator/prometheus-operator) and GKE Managed
//     Prometheus's (charts/operator/crds in
//     github.com/GoogleCloudPlatform/prometheus-engine);
//   - the trigger metadata KEDA's Temporal scaler reads, from the struct tags
//     of its source (pkg/scalers/temporal.go), because the CRD types trigger
//     metadata only as a map of strings: a misspelt key would otherwise pass
//     here and be silently ignored (or defaulted) by KEDA.
//
// Every object schema that lists its properties is closed
// (additionalProperties: false), so an unknown or misspelt field fails, as
// kubeconform's -strict expects of its "-strict" schemas. Files are named as
// kubeconform's templates name them: <kind>-<group>-<version>.json.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

const (
	draft       = "http://json-schema.org/draft-07/schema#"
	objectMeta  = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
	intOrString = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
	quantity    = "io.k8s.apimachinery.pkg.api.resource.Quantity"
	// quantityPattern is the serialization grammar in Quantity's own
	// description (k8s.io/apimachinery/pkg/api/resource): a signed decimal
	// number and one optional suffix, binary SI (Ki…Ei), decimal SI
	// (m, k, M…E) or an exponent. So "512MB" or "1.5 Gi" fail here as the
	// API server would refuse them.
	quantityPattern = `^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)(([KMGTPE]i)|[mkMGTPE]|[eE][+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+))?$`
)

type schema = map[string]any

func main() {
	swagger := flag.String("swagger", "", "Kubernetes api/openapi-spec/swagger.json")
	crds := flag.String("crds", "", "directories of CRD YAML files, comma-separated (KEDA's config/crd/bases, the monitoring operators')")
	temporal := flag.String("temporal-scaler", "", "KEDA's pkg/scalers/temporal.go")
	out := flag.String("out", "", "directory to write the schemas to")
	flag.Parse()
	if *swagger == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "usage: schemagen -swagger swagger.json [-crds dir -temporal-scaler temporal.go] -out dir")
		os.Exit(2)
	}
	if err := run(*swagger, *crds, *temporal, *out); err != nil {
		fmt.Fprintln(os.Stderr, "schemagen:", err)
		os.Exit(1)
	}
}

func run(swaggerPath, crdDir, temporalPath, out string) error {
	defs, err := loadDefinitions(swaggerPath)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	written := map[string]string{} // file → the definition or CRD it came from
	write := func(file, from string, s schema) error {
		if prev, ok := written[file]; ok && prev != from {
			return fmt.Errorf("%s would hold both %s and %s", file, prev, from)
		}
		written[file] = from
		b, err := json.Marshal(s)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(out, file), b, 0o644)
	}

	for _, name := range slices.Sorted(mapKeys(defs)) {
		for _, gvk := range groupVersionKinds(defs[name]) {
			s := schema{"$schema": draft, "allOf": []any{schema{"$ref": "#/definitions/" + name}}, "definitions": closure(defs, name)}
			if err := write(fileName(gvk.group, gvk.version, gvk.kind), name, s); err != nil {
				return err
			}
		}
	}

	if crdDir == "" {
		return nil
	}
	var temporalMeta schema
	if temporalPath != "" {
		if temporalMeta, err = temporalMetadataSchema(temporalPath); err != nil {
			return err
		}
	}
	var files []string
	for _, dir := range strings.Split(crdDir, ",") {
		found, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
		if err != nil {
			return err
		}
		if len(found) == 0 {
			return fmt.Errorf("no CRDs in %s", dir)
		}
		files = append(files, found...)
	}
	for _, f := range files {
		crd, err := loadCRD(f)
		if err != nil {
			return err
		}
		for _, v := range crd.Spec.Versions {
			if v.Schema.OpenAPIV3Schema == nil {
				continue
			}
			s := strictCRD(v.Schema.OpenAPIV3Schema).(schema)
			props, _ := s["properties"].(schema)
			if props == nil {
				return fmt.Errorf("%s %s: schema has no properties", f, v.Name)
			}
			props["metadata"] = schema{"$ref": "#/definitions/" + objectMeta}
			if temporalMeta != nil {
				addTriggerRule(s, "temporal", temporalMeta)
			}
			s["$schema"] = draft
			s["definitions"] = closure(defs, objectMeta)
			if err := write(fileName(crd.Spec.Group, v.Name, crd.Spec.Names.Kind), f, s); err != nil {
				return err
			}
		}
	}
	return nil
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// fileName follows kubeconform's {{ .ResourceKind }}{{ .KindSuffix }}:
// the group's first label, then the version ("service-v1",
// "deployment-apps-v1", "scaledobject-keda-v1alpha1").
func fileName(group, version, kind string) string {
	suffix := "-" + strings.ToLower(version)
	if group != "" {
		suffix = "-" + strings.ToLower(strings.Split(group, ".")[0]) + suffix
	}
	return strings.ToLower(kind) + suffix + ".json"
}

// loadDefinitions reads the swagger definitions, rewritten for JSON Schema.
func loadDefinitions(path string) (map[string]schema, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var spec struct {
		Definitions map[string]schema `json:"definitions"`
	}
	if err := json.Unmarshal(b, &spec); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(spec.Definitions) == 0 {
		return nil, fmt.Errorf("%s: no definitions", path)
	}
	for _, name := range []string{objectMeta, intOrString, quantity} {
		if spec.Definitions[name] == nil {
			return nil, fmt.Errorf("%s: no definition %s", path, name)
		}
	}
	defs := make(map[string]schema, len(spec.Definitions))
	for name, d := range spec.Definitions {
		gvk := d["x-kubernetes-group-version-kind"]
		s := strictSwagger(d).(schema)
		if gvk != nil {
			s["x-kubernetes-group-version-kind"] = gvk
		}
		defs[name] = s
	}
	// YAML writes `port: 8080` and `cpu: 1` as numbers; the API takes them.
	defs[intOrString] = schema{"anyOf": []any{schema{"type": "string"}, schema{"type": "integer"}}}
	defs[quantity] = schema{"anyOf": []any{schema{"type": "string", "pattern": quantityPattern}, schema{"type": "number"}}}
	return defs, nil
}

// strictSwagger drops descriptions and vendor extensions, and closes every
// object schema that lists its properties.
func strictSwagger(v any) any {
	switch v := v.(type) {
	case schema:
		s := schema{}
		for k, x := range v {
			if k == "description" || strings.HasPrefix(k, "x-") {
				continue
			}
			if k == "properties" {
				props := schema{}
				for name, p := range x.(schema) {
					props[name] = strictSwagger(p)
				}
				s[k] = props
				continue
			}
			s[k] = strictSwagger(x)
		}
		if s["format"] == "int-or-string" {
			return schema{"anyOf": []any{schema{"type": "string"}, schema{"type": "integer"}}}
		}
		if _, ok := s["properties"]; ok {
			if _, set := s["additionalProperties"]; !set {
				s["additionalProperties"] = false
			}
		}
		return s
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = strictSwagger(x)
		}
		return out
	default:
		return v
	}
}

type gvk struct{ group, version, kind string }

func groupVersionKinds(d schema) []gvk {
	list, _ := d["x-kubernetes-group-version-kind"].([]any)
	var out []gvk
	for _, x := range list {
		m, _ := x.(schema)
		g, _ := m["group"].(string)
		v, _ := m["version"].(string)
		k, _ := m["kind"].(string)
		if v != "" && k != "" {
			out = append(out, gvk{g, v, k})
		}
	}
	return out
}

// closure returns the definitions name refers to, itself included, so each
// file stands alone.
func closure(defs map[string]schema, name string) schema {
	out := schema{}
	var visit func(string)
	visit = func(n string) {
		if _, seen := out[n]; seen {
			return
		}
		d := defs[n]
		if d == nil {
			d = schema{} // a dangling $ref in the spec: accept anything there
		}
		clean := schema{}
		for k, v := range d {
			if k != "x-kubernetes-group-version-kind" {
				clean[k] = v
			}
		}
		out[n] = clean
		for _, r := range refs(clean) {
			visit(r)
		}
	}
	visit(name)
	return out
}

func refs(v any) []string {
	var out []string
	switch v := v.(type) {
	case schema:
		if r, ok := v["$ref"].(string); ok {
			out = append(out, strings.TrimPrefix(r, "#/definitions/"))
		}
		for _, x := range v {
			out = append(out, refs(x)...)
		}
	case []any:
		for _, x := range v {
			out = append(out, refs(x)...)
		}
	}
	return out
}

type crdFile struct {
	Spec struct {
		Group string `json:"group"`
		Names struct {
			Kind string `json:"kind"`
		} `json:"names"`
		Versions []struct {
			Name   string `json:"name"`
			Schema struct {
				OpenAPIV3Schema schema `json:"openAPIV3Schema"`
			} `json:"schema"`
		} `json:"versions"`
	} `json:"spec"`
}

func loadCRD(path string) (crdFile, error) {
	var crd crdFile
	b, err := os.ReadFile(path)
	if err != nil {
		return crd, err
	}
	if err := yaml.Unmarshal(b, &crd); err != nil {
		return crd, fmt.Errorf("%s: %w", path, err)
	}
	if crd.Spec.Group == "" || crd.Spec.Names.Kind == "" || len(crd.Spec.Versions) == 0 {
		return crd, fmt.Errorf("%s: not a CustomResourceDefinition", path)
	}
	return crd, nil
}

// strictCRD turns a structural schema into JSON Schema as the API server
// reads it: int-or-string and nullable fields, and closed objects unless
// they preserve unknown fields.
func strictCRD(v any) any {
	switch v := v.(type) {
	case schema:
		s := schema{}
		for k, x := range v {
			if k == "description" || strings.HasPrefix(k, "x-") || k == "nullable" {
				continue
			}
			if k == "properties" {
				props := schema{}
				for name, p := range x.(schema) {
					props[name] = strictCRD(p)
				}
				s[k] = props
				continue
			}
			s[k] = strictCRD(x)
		}
		if v["x-kubernetes-int-or-string"] == true {
			delete(s, "type")
			delete(s, "anyOf")
			s["anyOf"] = []any{schema{"type": "string"}, schema{"type": "integer"}}
		}
		if v["nullable"] == true {
			if t, ok := s["type"].(string); ok {
				s["type"] = []any{t, "null"}
			}
		}
		_, hasProps := s["properties"]
		_, hasAdditional := s["additionalProperties"]
		if hasProps && !hasAdditional && v["x-kubernetes-preserve-unknown-fields"] != true {
			s["additionalProperties"] = false
		}
		return s
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = strictCRD(x)
		}
		return out
	default:
		return v
	}
}

// addTriggerRule checks the metadata of spec.triggers[] of the given type
// against meta, if the CRD has triggers.
func addTriggerRule(s schema, triggerType string, meta schema) {
	spec, _ := dig(s, "properties", "spec", "properties", "triggers", "items").(schema)
	if spec == nil {
		return
	}
	rule := schema{
		"if":   schema{"properties": schema{"type": schema{"const": triggerType}}, "required": []any{"type"}},
		"then": schema{"properties": schema{"metadata": meta}},
	}
	all, _ := spec["allOf"].([]any)
	spec["allOf"] = append(all, rule)
}

func dig(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(schema)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

// temporalMetadataSchema reads the keda:"name=…, order=…" tags of the
// temporalMetadata struct: a name read from triggerMetadata is a key of
// the trigger's metadata, one read from resolvedEnv is <name>FromEnv (the
// name of a variable of the scaled container), one read from authParams
// belongs in a TriggerAuthentication instead. Integer and boolean fields
// must parse as KEDA parses them; enum tags list their values.
func temporalMetadataSchema(path string) (schema, error) {
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		return nil, err
	}
	var fields []*ast.Field
	ast.Inspect(f, func(n ast.Node) bool {
		if ts, ok := n.(*ast.TypeSpec); ok && ts.Name.Name == "temporalMetadata" {
			if st, ok := ts.Type.(*ast.StructType); ok {
				fields = st.Fields.List
			}
		}
		return true
	})
	if fields == nil {
		return nil, fmt.Errorf("%s: no temporalMetadata struct", path)
	}
	props := schema{}
	var keys []any
	for _, field := range fields {
		if field.Tag == nil {
			continue
		}
		raw, err := strconv.Unquote(field.Tag.Value)
		if err != nil {
			return nil, err
		}
		tag, ok := reflect.StructTag(raw).Lookup("keda")
		if !ok {
			continue
		}
		names, orders, enum := parseKedaTag(tag)
		if len(names) == 0 {
			return nil, fmt.Errorf("%s: keda tag without a name: %q", path, tag)
		}
		value := schema{"type": "string"}
		switch typ := fmt.Sprint(field.Type); {
		case len(enum) > 0:
			value["enum"] = enum
		case strings.HasPrefix(typ, "int"):
			value["pattern"] = `^\s*[+-]?[0-9]+\s*$`
		case typ == "bool":
			value["pattern"] = `^\s*(1|t|T|TRUE|true|True|0|f|F|FALSE|false|False)\s*$`
		}
		for _, name := range names {
			if slices.Contains(orders, "triggerMetadata") {
				props[name] = value
				keys = append(keys, name)
			}
			if slices.Contains(orders, "resolvedEnv") {
				keys = append(keys, name+"FromEnv")
			}
		}
	}
	if len(keys) == 0 {
		return nil, errors.New(path + ": no trigger metadata keys found")
	}
	return schema{"propertyNames": schema{"enum": keys}, "properties": props}, nil
}

func parseKedaTag(tag string) (names, orders []string, enum []any) {
	for _, part := range strings.Split(tag, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch strings.TrimSpace(k) {
		case "name":
			names = splitList(v)
		case "order":
			orders = splitList(v)
		case "enum":
			for _, e := range splitList(v) {
				enum = append(enum, e)
			}
		}
	}
	return names, orders, enum
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ";") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
