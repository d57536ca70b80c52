// Package docs holds the documents for wochit-ingest's users, and checks real
// traffic against openapi.yaml, the customer's contract: the notifications
// the ingress accepts, its answers, and the callbacks the workers send. The
// dev stack's ingress and receiver (so `dev` and the end-to-end tests), and
// the end-to-end tests' own receivers, run every exchange through these
// checks, so a change to contract/ or ingress/ that the document does not
// follow is caught where it first shows.
//
// The checks are stricter than the document: an object the document
// describes must not carry a field the document does not list (the document
// leaves objects open, so customers' validators tolerate fields added later;
// Notification says so explicitly, since Wochit may add fields).
package docs

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"sigs.k8s.io/yaml"
)

// OpenAPI is docs/openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPI []byte

const (
	docURL       = "file:///docs/openapi.yaml"
	endpointPath = "/webhooks/wochit"
)

// CheckNotification reports how body, a notification the ingress accepted,
// breaks the document's request body of POST /webhooks/wochit.
func CheckNotification(body []byte) error {
	c, err := load()
	if err != nil {
		return err
	}
	return c.notification.check("the notification", body)
}

// CheckAnswer reports how an answer of the ingress to POST /webhooks/wochit
// (or /webhooks/wochit/{token}) breaks the document: a status it does not
// list, a required header missing or malformed, a body off its schema.
func CheckAnswer(status int, h http.Header, body []byte) error {
	c, err := load()
	if err != nil {
		return err
	}
	a, ok := c.answers[status]
	if !ok {
		return fmt.Errorf("docs/openapi.yaml lists no %d answer for POST %s", status, endpointPath)
	}
	what := fmt.Sprintf("the %d answer", status)
	if err := checkHeaders(what, a.headers, h); err != nil {
		return err
	}
	if a.body == nil {
		return nil
	}
	if mt := h.Get("Content-Type"); mt != "application/json" {
		return fmt.Errorf("docs/openapi.yaml: %s has Content-Type %q, want application/json", what, mt)
	}
	return a.body.check(what, body)
}

// CheckCallback reports how a callback (its headers and body) breaks the
// document's webhook of its event type.
func CheckCallback(h http.Header, body []byte) error {
	c, err := load()
	if err != nil {
		return err
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("the callback body is not JSON: %w", err)
	}
	typ, _ := v.(map[string]any)["type"].(string)
	hook, ok := c.webhooks[typ]
	if !ok {
		return fmt.Errorf("docs/openapi.yaml has no webhook for the event type %q", typ)
	}
	what := "the " + typ + " callback"
	if err := checkHeaders(what, hook.headers, h); err != nil {
		return err
	}
	return hook.body.checkValue(what, v)
}

// compiled is the document, compiled into what the checks need.
type compiled struct {
	notification schema
	answers      map[int]exchange    // of POST /webhooks/wochit, by status
	webhooks     map[string]exchange // by event type
}

// exchange is a request or answer: its headers and its JSON body (nil: none).
type exchange struct {
	headers []header
	body    *schema
}

type header struct {
	name     string
	required bool
	schema   schema
}

type schema struct{ *jsonschema.Schema }

func (s schema) check(what string, body []byte) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s is not JSON: %w", what, err)
	}
	return s.checkValue(what, v)
}

func (s schema) checkValue(what string, v any) error {
	if err := s.Validate(v); err != nil {
		return fmt.Errorf("docs/openapi.yaml: %s does not follow the document: %w", what, err)
	}
	return nil
}

func checkHeaders(what string, headers []header, h http.Header) error {
	for _, hd := range headers {
		values := h.Values(hd.name)
		if len(values) == 0 {
			if hd.required {
				return fmt.Errorf("docs/openapi.yaml: %s lacks the header %s", what, hd.name)
			}
			continue
		}
		if len(values) > 1 {
			return fmt.Errorf("docs/openapi.yaml: %s repeats the header %s", what, hd.name)
		}
		if err := hd.schema.checkValue(what+"'s header "+hd.name, values[0]); err != nil {
			return err
		}
	}
	return nil
}

var load = sync.OnceValues(func() (*compiled, error) {
	c, err := compile(OpenAPI)
	if err != nil {
		return nil, fmt.Errorf("docs/openapi.yaml: %w", err)
	}
	return c, nil
})

// compile reads an OpenAPI document and compiles the schemas the checks use.
func compile(document []byte) (*compiled, error) {
	js, err := yaml.YAMLToJSON(document)
	if err != nil {
		return nil, err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		return nil, err
	}
	closeObjects(doc)
	compiler := jsonschema.NewCompiler()
	compiler.DefaultDraft(jsonschema.Draft2020)
	compiler.AssertFormat()
	if err := compiler.AddResource(docURL, doc); err != nil {
		return nil, err
	}
	r := resolver{doc: doc, compiler: compiler}

	c := &compiled{answers: map[int]exchange{}, webhooks: map[string]exchange{}}
	op := "/paths/" + escape(endpointPath) + "/post"
	body, err := r.body(op + "/requestBody")
	if err != nil || body == nil {
		return nil, fmt.Errorf("POST %s: request body: %v", endpointPath, err)
	}
	c.notification = *body
	responses, _ := r.at(op + "/responses").(map[string]any)
	for code := range responses {
		status, err := strconv.Atoi(code)
		if err != nil {
			return nil, fmt.Errorf("POST %s: response %q: only exact statuses are listed", endpointPath, code)
		}
		if c.answers[status], err = r.exchange(op+"/responses/"+code, "headers"); err != nil {
			return nil, fmt.Errorf("POST %s: response %s: %w", endpointPath, code, err)
		}
	}
	hooks, _ := r.at("/webhooks").(map[string]any)
	for name := range hooks {
		if c.webhooks[name], err = r.exchange("/webhooks/"+escape(name)+"/post", "parameters"); err != nil {
			return nil, fmt.Errorf("webhook %s: %w", name, err)
		}
		if c.webhooks[name].body == nil {
			return nil, fmt.Errorf("webhook %s has no JSON request body", name)
		}
	}
	return c, nil
}

// closeObjects makes every object schema that lists its properties refuse
// others, unless it says what to do with them (see the package comment). So
// each schema of type object in the document lists all of its properties
// itself; schemas that only narrow one (the error codes of each answer) have
// no type and stay open.
func closeObjects(v any) {
	switch v := v.(type) {
	case map[string]any:
		_, props := v["properties"]
		_, additional := v["additionalProperties"]
		_, unevaluated := v["unevaluatedProperties"]
		if props && isObjectType(v["type"]) && !additional && !unevaluated {
			v["additionalProperties"] = false
		}
		for _, child := range v {
			closeObjects(child)
		}
	case []any:
		for _, child := range v {
			closeObjects(child)
		}
	}
}

func isObjectType(t any) bool {
	switch t := t.(type) {
	case string:
		return t == "object"
	case []any:
		for _, e := range t {
			if e == "object" {
				return true
			}
		}
	}
	return false
}

// resolver walks the document by JSON pointer, following $ref.
type resolver struct {
	doc      any
	compiler *jsonschema.Compiler
}

// at returns the value at ptr, or nil.
func (r resolver) at(ptr string) any {
	v := r.doc
	for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch c := v.(type) {
		case map[string]any:
			v = c[tok]
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil
			}
			v = c[i]
		default:
			return nil
		}
	}
	return v
}

// deref follows the $ref of the object at ptr (a response, header,
// parameter or request body), returning where it really is.
func (r resolver) deref(ptr string) (string, map[string]any, error) {
	for range 10 {
		obj, ok := r.at(ptr).(map[string]any)
		if !ok {
			return "", nil, fmt.Errorf("%s is not an object", ptr)
		}
		ref, ok := obj["$ref"].(string)
		if !ok {
			return ptr, obj, nil
		}
		if !strings.HasPrefix(ref, "#/") {
			return "", nil, fmt.Errorf("%s: only local references are supported", ref)
		}
		ptr = ref[1:]
	}
	return "", nil, errors.New(ptr + ": too many references")
}

func (r resolver) schema(ptr string) (schema, error) {
	s, err := r.compiler.Compile(docURL + "#" + ptr)
	return schema{s}, err
}

// body compiles the application/json schema of the request body or response
// at ptr; nil when it has no content.
func (r resolver) body(ptr string) (*schema, error) {
	ptr, obj, err := r.deref(ptr)
	if err != nil {
		return nil, err
	}
	content, _ := obj["content"].(map[string]any)
	if len(content) == 0 {
		return nil, nil
	}
	if _, ok := content["application/json"]; !ok || len(content) != 1 {
		return nil, errors.New("the only content type is application/json")
	}
	s, err := r.schema(ptr + "/content/" + escape("application/json") + "/schema")
	return &s, err
}

// exchange compiles the object at ptr: its headers, listed in the map named
// headersKey (a response's "headers") or in the header parameters of the list
// named headersKey (an operation's "parameters"), and its body.
func (r resolver) exchange(ptr, headersKey string) (exchange, error) {
	ptr, obj, err := r.deref(ptr)
	if err != nil {
		return exchange{}, err
	}
	var e exchange
	var names []string // pointers below ptr to header objects, with their names
	switch hs := obj[headersKey].(type) {
	case map[string]any:
		for name := range hs {
			names = append(names, name, ptr+"/"+headersKey+"/"+escape(name))
		}
	case []any:
		for i := range hs {
			names = append(names, "", ptr+"/"+headersKey+"/"+strconv.Itoa(i))
		}
	}
	for i := 0; i < len(names); i += 2 {
		hptr, hobj, err := r.deref(names[i+1])
		if err != nil {
			return exchange{}, err
		}
		name := names[i]
		if name == "" { // a parameter names itself
			if hobj["in"] != "header" {
				continue
			}
			name, _ = hobj["name"].(string)
		}
		required, _ := hobj["required"].(bool)
		s, err := r.schema(hptr + "/schema")
		if err != nil {
			return exchange{}, fmt.Errorf("header %s: %w", name, err)
		}
		e.headers = append(e.headers, header{name: name, required: required, schema: s})
	}
	bodyPtr := ptr
	if headersKey == "parameters" {
		bodyPtr = ptr + "/requestBody"
	}
	if e.body, err = r.body(bodyPtr); err != nil {
		return exchange{}, err
	}
	return e, nil
}

// escape makes s one JSON pointer token.
func escape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}
