package docs

import (
	"bytes"
	"context"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"go.temporal.io/sdk/client"
	"golang.org/x/time/rate"
	"sigs.k8s.io/yaml"

	"github.com/wochit-ingest/wochit-ingest/contract"
	"github.com/wochit-ingest/wochit-ingest/devstack/gcsemu/gcsemutest"
	"github.com/wochit-ingest/wochit-ingest/inbox"
	"github.com/wochit-ingest/wochit-ingest/ingress"
	"github.com/wochit-ingest/wochit-ingest/internal/webhook"
	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// The document is OpenAPI 3.1 that an OpenAPI library accepts whole (every
// $ref resolves, every schema is well-formed), describes both forms of the
// endpoint alike and both callbacks, and compiles into the checks.
func TestDocumentIsValidOpenAPI31(t *testing.T) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("docs/openapi.yaml is not a valid OpenAPI document: %v", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Fatalf("openapi: %s, want 3.1", doc.OpenAPI)
	}
	plain, token := doc.Paths.Value("/webhooks/wochit"), doc.Paths.Value("/webhooks/wochit/{token}")
	if plain == nil || plain.Post == nil || token == nil || token.Post == nil {
		t.Fatal("the document lacks POST /webhooks/wochit or POST /webhooks/wochit/{token}")
	}
	if got, want := responseRefs(token.Post), responseRefs(plain.Post); !slices.Equal(got, want) {
		t.Errorf("the two forms of the endpoint answer differently: %v and %v", got, want)
	}
	for _, name := range []contract.EventType{contract.VideoStored, contract.VideoFailed} {
		if hook := doc.Webhooks[string(name)]; hook == nil || hook.Post == nil {
			t.Errorf("the document has no %s webhook", name)
		}
	}
	if _, err := load(); err != nil {
		t.Fatal(err)
	}
}

func responseRefs(op *openapi3.Operation) []string {
	var refs []string
	for code, r := range op.Responses.Map() {
		refs = append(refs, code+"="+r.Ref)
	}
	slices.Sort(refs)
	return refs
}

// The schemas list exactly the JSON fields of the contract types, and
// require every field the types always send: adding a field to a type, or
// removing one from either side, fails here.
func TestSchemasListTheFieldsOfTheContractTypes(t *testing.T) {
	schemas := documentSchemas(t)
	tests := []struct {
		typ     any
		schemas []string // together they list the type's fields
	}{
		// The notification is input: which fields it needs is the ingress's
		// rule, not its type's.
		{contract.Notification{}, []string{"Notification"}},
		{contract.Event{}, []string{"StoredEvent"}},
		{contract.Event{}, []string{"FailedEvent"}},
		{contract.EventData{}, []string{"StoredEventData", "FailedEventData"}},
		{contract.StoredObject{}, []string{"StoredObject"}},
		{contract.Media{}, []string{"Media"}},
	}
	for _, tt := range tests {
		typ := reflect.TypeOf(tt.typ)
		fields := jsonFields(typ)
		t.Run(typ.Name()+"/"+strings.Join(tt.schemas, "+"), func(t *testing.T) {
			listed := map[string]bool{}
			for _, name := range tt.schemas {
				s, ok := schemas[name]
				if !ok {
					t.Fatalf("the document has no schema %s", name)
				}
				for p := range s.Properties {
					if _, ok := fields[p]; !ok {
						t.Errorf("schema %s lists %q, which %s does not have", name, p, typ)
					}
					listed[p] = true
				}
				for field, omitempty := range fields {
					// A field sent whatever its value must be in every schema
					// of the type, and required there.
					if !omitempty && typ != reflect.TypeFor[contract.Notification]() && (!slices.Contains(s.Required, field) || s.Properties[field] == nil) {
						t.Errorf("%s always sends %q; schema %s does not require it", typ, field, name)
					}
				}
				if name == "StoredObject" || name == "Media" {
					for _, r := range s.Required {
						if fields[r] {
							t.Errorf("schema %s requires %q, which %s omits when empty", name, r, typ)
						}
					}
				}
			}
			for field := range fields {
				if !listed[field] {
					t.Errorf("%s has the field %q; schema %s does not list it", typ, field, strings.Join(tt.schemas, " or "))
				}
			}
		})
	}
}

// Events built from the contract types, with every field set, follow the
// document, and so do the smallest ones (a composite object without md5, a
// video without media, a failure without a message). A field added to a
// type is set here too, and the checks refuse fields the document does not
// list.
func TestEventsOfTheContractTypesFollowTheDocument(t *testing.T) {
	n := contract.Notification{
		VideoContext: "user-42", WochitVideoID: "6094092472a9105747957aa3", Title: "My first video",
		ThumbnailURL: "https://cdn.example.com/t.png", VideoURL: "https://cdn.example.com/v.mp4",
	}
	workflowID := workflows.WorkflowID(n.WochitVideoID)
	at := time.Date(2025, 12, 5, 8, 0, 0, 123456789, time.UTC)
	fastStart := true
	video := contract.StoredObject{
		Bucket: "wochit-videos", Name: "videos/6094092472a9105747957aa3/video.mp4",
		URI: "gs://wochit-videos/videos/6094092472a9105747957aa3/video.mp4", Size: 50331648, ContentType: "video/mp4",
		CRC32C: "WWdqRQ==", MD5: "1B2M2Y8AsgTpgAmY7PhCfg==",
		Media: &contract.Media{DurationMillis: 33560, Width: 1280, Height: 720, Codec: "avc1.4D401F", FastStart: &fastStart},
	}
	thumbnail := contract.StoredObject{
		Bucket: "wochit-videos", Name: "videos/6094092472a9105747957aa3/thumbnail.png",
		URI: "gs://wochit-videos/videos/6094092472a9105747957aa3/thumbnail.png", Size: 1534, ContentType: "image/png",
		CRC32C: "orMtSg==", MD5: "CY9rzUYh03PK3k6DJie09g==",
	}
	// Fields only one kind of event carries; any other field of EventData
	// must be in both.
	onlyIn := map[string]contract.EventType{"video": contract.VideoStored, "thumbnail": contract.VideoStored, "reason": contract.VideoFailed, "message": contract.VideoFailed}

	full := func(ev contract.Event) contract.Event {
		fill(reflect.ValueOf(&ev).Elem(), func(f reflect.StructField) bool {
			kind, only := onlyIn[jsonName(f)]
			return only && kind != ev.Type
		})
		return ev
	}
	composite := video
	composite.MD5, composite.Media = "", nil
	fastStartOnly := video
	noFastStart := false
	fastStartOnly.Media = &contract.Media{FastStart: &noFastStart}

	events := map[string]contract.Event{
		"stored, every field":       full(contract.StoredEvent(n, workflowID, at, video, thumbnail)),
		"failed, every field":       full(contract.FailedEvent(n, workflowID, at, contract.OriginNotFound, "origin answered 404 for https://cdn.example.com/v.mp4")),
		"stored, composite, no md5": contract.StoredEvent(n, workflowID, at, composite, thumbnail),
		"stored, fastStart false":   contract.StoredEvent(n, workflowID, at, fastStartOnly, thumbnail),
		"stored, no title":          contract.StoredEvent(contract.Notification{WochitVideoID: "a", VideoContext: "c"}, "wochit-video-a", at, video, thumbnail),
		"failed, no message":        contract.FailedEvent(n, workflowID, at, contract.Cancelled, ""),
	}
	for name, ev := range events {
		t.Run(name, func(t *testing.T) {
			body, err := json.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			if err := CheckCallback(signedHeaders(t, ev, body), body); err != nil {
				t.Fatalf("%v\nbody: %s", err, body)
			}
		})
	}

	everyField := contract.Notification{WochitVideoID: n.WochitVideoID, VideoURL: n.VideoURL, ThumbnailURL: n.ThumbnailURL}
	fill(reflect.ValueOf(&everyField).Elem(), nil)
	body, _ := json.Marshal(everyField)
	if err := CheckNotification(body); err != nil {
		t.Errorf("a notification with every field: %v", err)
	}
}

// fill sets every field of v that is zero, recursively, unless skip says
// not to: a field added to a contract type shows in the JSON, whatever its
// tag says.
func fill(v reflect.Value, skip func(reflect.StructField) bool) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		fill(v.Elem(), skip)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			if v.IsZero() {
				v.Set(reflect.ValueOf(time.Date(2025, 12, 5, 8, 0, 0, 0, time.UTC)))
			}
			return
		}
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if f.IsExported() && jsonName(f) != "-" && (skip == nil || !skip(f)) {
				fill(v.Field(i), skip)
			}
		}
	case reflect.String:
		if v.String() == "" {
			v.SetString("x")
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if v.Int() == 0 {
			v.SetInt(1)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if v.Uint() == 0 {
			v.SetUint(1)
		}
	case reflect.Float32, reflect.Float64:
		if v.Float() == 0 {
			v.SetFloat(1)
		}
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Slice:
		if v.Len() == 0 {
			v.Set(reflect.Append(v, reflect.New(v.Type().Elem()).Elem()))
			fill(v.Index(0), skip)
		}
	case reflect.Map:
		if v.Len() == 0 {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			fill(k, skip)
			fill(e, skip)
			v.Set(reflect.MakeMap(v.Type()))
			v.SetMapIndex(k, e)
		}
	}
}

// jsonFields are the JSON names of typ's fields, each with whether it is
// omitted when empty.
func jsonFields(typ reflect.Type) map[string]bool {
	fields := map[string]bool{}
	for i := range typ.NumField() {
		f := typ.Field(i)
		if name := jsonName(f); f.IsExported() && name != "-" {
			opts := strings.Split(f.Tag.Get("json"), ",")[1:]
			fields[name] = slices.Contains(opts, "omitempty") || slices.Contains(opts, "omitzero")
		}
	}
	return fields
}

func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "" {
		return f.Name
	}
	return name
}

type objectSchema struct {
	Properties map[string]any
	Required   []string
	Enum       []string
}

// documentSchemas are the document's components.schemas, as written (not
// as the checks close them).
func documentSchemas(t *testing.T) map[string]objectSchema {
	t.Helper()
	js, err := yaml.YAMLToJSON(OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Components struct{ Schemas map[string]objectSchema }
	}
	if err := json.Unmarshal(js, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Components.Schemas
}

// signedHeaders are the headers a worker sends with body.
func signedHeaders(t *testing.T, ev contract.Event, body []byte) http.Header {
	t.Helper()
	secret, err := webhook.ParseSecret("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := webhook.NewSigner(secret, secret)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "wochit-ingest")
	signer.SetHeaders(h, workflows.WebhookID(ev.Data.WorkflowID, ev.Type), time.Now(), body)
	return h
}

// The document's reasons are contract's: every constant of type Reason
// declared in contract/, read from its source, so a reason added there
// without the document fails here.
func TestReasonEnumIsContractsReasons(t *testing.T) {
	reasons := contractReasons(t)
	documented := documentSchemas(t)["Reason"].Enum
	slices.Sort(reasons)
	slices.Sort(documented)
	if !slices.Equal(documented, reasons) {
		t.Fatalf("the document's reasons are\n  %v\ncontract's are\n  %v", documented, reasons)
	}
}

// contractReasons are the values of the constants of type Reason in
// contract/ (`X Reason = "X"` or `X = Reason("X")`).
func contractReasons(t *testing.T) []string {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob("../contract/*.go")
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			if gen, ok := decl.(*ast.GenDecl); ok && gen.Tok == token.CONST {
				for _, spec := range gen.Specs {
					vs := spec.(*ast.ValueSpec)
					typed := isIdent(vs.Type, "Reason")
					for _, v := range vs.Values {
						if call, ok := v.(*ast.CallExpr); ok && isIdent(call.Fun, "Reason") && len(call.Args) == 1 {
							v, typed = call.Args[0], true
						}
						if !typed {
							continue
						}
						lit, ok := v.(*ast.BasicLit)
						if !ok || lit.Kind != token.STRING {
							t.Fatalf("%s: a Reason that is not a string literal", fset.Position(v.Pos()))
						}
						s, _ := strconv.Unquote(lit.Value)
						reasons = append(reasons, s)
					}
				}
			}
		}
	}
	if len(reasons) == 0 {
		t.Fatal("found no Reason constants in contract/")
	}
	return reasons
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}

// Each answer the ingress gives before (and instead of) starting a run, and
// the 503 of a Temporal it cannot reach, follows the document: its status is
// listed, with its error code, its headers and its body. (202, 200 and 409
// need a Temporal server: the end-to-end tests check those, through
// devstack.)
func TestIngressAnswersFollowTheDocument(t *testing.T) {
	// A Temporal frontend nobody listens on: starts fail as when it is down.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := l.Addr().String()
	l.Close()
	down, err := client.NewLazyClient(client.Options{HostPort: deadAddr})
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()

	valid := `{"wochitVideoId":"v1","videoContext":"c","videoUrl":"https://cdn.example.com/v.mp4","thumbnailUrl":"https://cdn.example.com/t.png"}`
	quiet := slog.New(slog.DiscardHandler)
	open := ingress.Config{AnySource: true, RateLimit: rate.Inf, StartTimeout: 300 * time.Millisecond, Logger: quiet}
	tests := []struct {
		name        string
		cfg         ingress.Config
		path, ctype string
		body        string
		want        int
	}{
		{"source not allowed", ingress.Config{Logger: quiet}, "/webhooks/wochit", "application/json", valid, http.StatusForbidden},
		{"no token", ingress.Config{AnySource: true, RateLimit: rate.Inf, Tokens: []ingress.Token{"a-long-enough-token-0123456789"}, Logger: quiet}, "/webhooks/wochit", "application/json", valid, http.StatusUnauthorized},
		{"a token in the path, none configured", open, "/webhooks/wochit/some-token", "application/json", valid, http.StatusUnauthorized},
		{"content-encoded", open, "/webhooks/wochit", "application/json; gzip", valid, http.StatusUnsupportedMediaType},
		{"too large", open, "/webhooks/wochit", "application/json", `{"title":"` + strings.Repeat("x", ingress.MaxBodyBytes) + `"}`, http.StatusRequestEntityTooLarge},
		{"invalid JSON", open, "/webhooks/wochit", "application/json", `{"wochitVideoId":`, http.StatusBadRequest},
		{"a field of the wrong type", open, "/webhooks/wochit", "application/json", `{"wochitVideoId":1}`, http.StatusBadRequest},
		{"missing field", open, "/webhooks/wochit", "application/json", `{"wochitVideoId":"v1"}`, http.StatusBadRequest},
		{"invalid field", open, "/webhooks/wochit", "application/json", strings.Replace(valid, `"v1"`, `"v 1"`, 1), http.StatusBadRequest},
		{"Temporal unreachable, no inbox", open, "/webhooks/wochit", "application/json", valid, http.StatusServiceUnavailable},
		{"Temporal unreachable, queued in the inbox", withInbox(t, open), "/webhooks/wochit", "text/plain", valid, http.StatusAccepted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(ingress.NewServer(tt.cfg, down))
			defer srv.Close()
			req, err := http.NewRequest(http.MethodPost, srv.URL+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			ctype, _, gzipped := strings.Cut(tt.ctype, "; gzip")
			req.Header.Set("Content-Type", ctype)
			if gzipped {
				req.Header.Set("Content-Encoding", "gzip")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body bytes.Buffer
			_, _ = body.ReadFrom(resp.Body)
			if resp.StatusCode != tt.want {
				t.Fatalf("answered %d %s, want %d", resp.StatusCode, body.Bytes(), tt.want)
			}
			if err := CheckAnswer(resp.StatusCode, resp.Header, body.Bytes()); err != nil {
				t.Fatal(err)
			}
		})
	}

	// Past its rate, a source gets 429 with Retry-After.
	srv := httptest.NewServer(ingress.NewServer(ingress.Config{AnySource: true, RateLimit: rate.Every(time.Hour), RateBurst: 1, Logger: quiet}, down))
	defer srv.Close()
	for i := range 2 {
		resp, err := http.Post(srv.URL+"/webhooks/wochit", "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		var body bytes.Buffer
		_, _ = body.ReadFrom(resp.Body)
		resp.Body.Close()
		if i == 1 {
			if resp.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("the second notification got %d, want 429", resp.StatusCode)
			}
			if err := CheckAnswer(resp.StatusCode, resp.Header, body.Bytes()); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// The checks refuse what the document does not describe, or they would
// prove nothing.
func TestChecksRefuseWhatTheDocumentDoesNotDescribe(t *testing.T) {
	n := contract.Notification{VideoContext: "c", WochitVideoID: "v1", VideoURL: "https://cdn.example.com/v.mp4", ThumbnailURL: "https://cdn.example.com/t.png"}
	stored := contract.StoredEvent(n, "wochit-video-v1", time.Now(), contract.StoredObject{
		Bucket: "b", Name: "videos/v1/video.mp4", URI: "gs://b/videos/v1/video.mp4", Size: 1, ContentType: "video/mp4", CRC32C: "WWdqRQ==",
	}, contract.StoredObject{
		Bucket: "b", Name: "videos/v1/thumbnail.png", URI: "gs://b/videos/v1/thumbnail.png", Size: 1, ContentType: "image/png", CRC32C: "orMtSg==",
	})
	good, _ := json.Marshal(stored)
	if err := CheckCallback(signedHeaders(t, stored, good), good); err != nil {
		t.Fatal(err)
	}
	json200 := http.Header{"Content-Type": {"application/json"}}
	tests := []struct {
		name string
		err  error
	}{
		{"a field the document does not list", CheckCallback(signedHeaders(t, stored, good), bytes.Replace(good, []byte(`"title"`), []byte(`"extra":1,"title"`), 1))},
		{"an object field the document does not list", CheckCallback(signedHeaders(t, stored, good), bytes.Replace(good, []byte(`"crc32c"`), []byte(`"sha256":"x","crc32c"`), 1))},
		{"hex where base64 is due", CheckCallback(signedHeaders(t, stored, good), bytes.Replace(good, []byte(`"WWdqRQ=="`), []byte(`"59676a45"`), 1))},
		{"a reason contract does not have", func() error {
			failed := contract.FailedEvent(n, "wochit-video-v1", time.Now(), "NoSuchReason", "m")
			body, _ := json.Marshal(failed)
			return CheckCallback(signedHeaders(t, failed, body), body)
		}()},
		{"an unknown event type", CheckCallback(signedHeaders(t, stored, good), bytes.Replace(good, []byte(`video.stored`), []byte(`video.deleted`), 1))},
		{"no signature", func() error {
			h := signedHeaders(t, stored, good)
			h.Del("webhook-signature")
			return CheckCallback(h, good)
		}()},
		{"a notification without its id", CheckNotification([]byte(`{"videoContext":"c","videoUrl":"https://x/v","thumbnailUrl":"https://x/t"}`))},
		{"an answer not listed", CheckAnswer(http.StatusTeapot, json200, []byte(`{"error":"teapot","message":"m"}`))},
		{"an error code of another status", CheckAnswer(http.StatusBadRequest, json200, []byte(`{"error":"rate_limited","message":"m"}`))},
		{"a 503 without Retry-After", CheckAnswer(http.StatusServiceUnavailable, json200, []byte(`{"error":"temporal_unavailable","message":"m"}`))},
		{"a 202 without its run", CheckAnswer(http.StatusAccepted, json200, []byte(`{"workflowId":"wochit-video-v1"}`))},
	}
	for _, tt := range tests {
		if tt.err == nil {
			t.Errorf("%s: accepted", tt.name)
		}
	}
}

// withInbox is cfg with an inbox on a GCS emulator of its own, so a
// notification Temporal does not take is queued (202 queued).
func withInbox(t *testing.T, cfg ingress.Config) ingress.Config {
	t.Helper()
	gcs, _ := gcsemutest.Start(t, "inbox", nil)
	cfg.Inbox = inbox.New(gcs, "inbox", "videos/.inbox/", nil)
	return cfg
}
