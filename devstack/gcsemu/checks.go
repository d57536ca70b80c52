package gcsemu

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/wochit-ingest/wochit-ingest/devstack/gcsapi"
	"github.com/wochit-ingest/wochit-ingest/internal/crc32c"
)

// checks sits in front of the emulator and enforces what GCS checks and
// fake-gcs-server v1.56.1 does not, so that a test of the copy engine's
// integrity rules can fail:
//
//   - preconditions (ifGenerationMatch, ifGenerationNotMatch,
//     ifMetagenerationMatch) of deletes and metadata patches, which
//     fake-gcs-server ignores;
//   - metagenerations: GCS counts the metadata changes of a generation,
//     fake-gcs-server reports 1 for ever. Object resources in answers carry
//     the count kept here (in memory: a restart starts every object at 1
//     again, which only makes conditions held from before it fail);
//   - where fake-gcs-server takes the writes (the in-memory emulator of the
//     tests): the preconditions of a compose, the CRC32C it declares for the
//     composed object and the generations its sources must have, and the
//     X-Goog-Hash a resumable upload's final chunk declares. diskWrites
//     checks those itself.
//
// Everything else — reads, listings, other writes — passes through.
type checks struct {
	next       http.Handler
	fakeWrites bool

	mu sync.Mutex // orders each check with the write it guards
	// metagenerations of the generations whose metadata changed; absent: 1.
	metagenerations map[generationKey]int64
	uploads         map[string]*uploadSum // by upload_id, when fakeWrites
}

type generationKey struct {
	bucket, name string
	generation   int64
}

// uploadSum is the CRC32C of the bytes a resumable upload took so far.
type uploadSum struct {
	received int64
	crc      uint32
	unknown  bool // a chunk skipped bytes: the sum covers no known content
}

func newChecks(next http.Handler, fakeWrites bool) *checks {
	return &checks{next: next, fakeWrites: fakeWrites, metagenerations: map[generationKey]int64{}, uploads: map[string]*uploadSum{}}
}

func (c *checks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path, q := r.URL.EscapedPath(), r.URL.Query()
	if strings.HasPrefix(path, "/upload/storage/v1/b/") {
		if c.fakeWrites && q.Get("upload_id") != "" && (r.Method == http.MethodPut || r.Method == http.MethodPost) {
			c.uploadChunk(w, r, q.Get("upload_id"))
			return
		}
		c.forward(w, r)
		return
	}
	rest, ok := strings.CutPrefix(path, "/storage/v1/b/")
	if !ok || q.Get("alt") == "media" {
		c.next.ServeHTTP(w, r)
		return
	}
	bucket, objPath, isObject := strings.Cut(rest, "/o/")
	bucket, err1 := url.PathUnescape(bucket)
	// A "/" left in the escaped path names a sub-resource (compose, acl).
	sub := ""
	if i := strings.Index(objPath, "/"); i >= 0 {
		objPath, sub = objPath[:i], objPath[i:]
	}
	name, err2 := url.PathUnescape(objPath)
	if !isObject || err1 != nil || err2 != nil || strings.Contains(bucket, "/") {
		c.forward(w, r)
		return
	}
	switch {
	case sub == "" && r.Method == http.MethodDelete:
		c.delete(w, r, bucket, name)
	case sub == "" && (r.Method == http.MethodPatch || r.Method == http.MethodPut ||
		r.Method == http.MethodPost && r.Header.Get("X-HTTP-Method-Override") == "PATCH"):
		c.patch(w, r, bucket, name)
	case sub == "/compose" && r.Method == http.MethodPost && c.fakeWrites:
		c.compose(w, r, bucket, name)
	default:
		c.forward(w, r)
	}
}

// delete removes exactly the live generation the conditions were checked
// against.
func (c *checks) delete(w http.ResponseWriter, r *http.Request, bucket, name string) {
	cond, err := gcsapi.ParseConditions(r.URL.Query())
	if err != nil {
		gcsapi.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	if cond == (gcsapi.Conditions{}) || r.URL.Query().Get("generation") != "" {
		c.forward(w, r)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	live, err := c.lookup(r, bucket, name, 0)
	switch {
	case err != nil:
		gcsapi.Error(w, http.StatusInternalServerError, err.Error())
		return
	case live == nil:
		gcsapi.Error(w, http.StatusNotFound, "No such object: "+bucket+"/"+name)
		return
	case !cond.Met(live.generation, c.metagenerationLocked(bucket, name, live.generation)):
		gcsapi.Error(w, http.StatusPreconditionFailed, gcsapi.ConditionNotMet)
		return
	}
	fwd := withoutConditions(r)
	q := fwd.URL.Query()
	q.Set("generation", strconv.FormatInt(live.generation, 10))
	fwd.URL.RawQuery = q.Encode()
	rec := httptest.NewRecorder()
	c.next.ServeHTTP(rec, fwd)
	if rec.Code < 300 {
		delete(c.metagenerations, generationKey{bucket, name, live.generation})
	}
	c.replyLocked(w, rec)
}

// patch changes an object's metadata if the conditions hold, and counts the
// change in its metageneration.
func (c *checks) patch(w http.ResponseWriter, r *http.Request, bucket, name string) {
	cond, err := gcsapi.ParseConditions(r.URL.Query())
	if err != nil {
		gcsapi.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	live, err := c.lookup(r, bucket, name, 0)
	if err != nil {
		gcsapi.Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	if live == nil {
		rec := httptest.NewRecorder()
		c.next.ServeHTTP(rec, r) // the layer behind answers 404
		c.replyLocked(w, rec)
		return
	}
	key := generationKey{bucket, name, live.generation}
	metageneration := c.metagenerationLocked(bucket, name, live.generation)
	if !cond.Met(live.generation, metageneration) {
		gcsapi.Error(w, http.StatusPreconditionFailed, gcsapi.ConditionNotMet)
		return
	}
	// diskWrites checks the generation again, atomically with its write; it
	// knows no metageneration but 1.
	fwd := r.Clone(r.Context())
	q := fwd.URL.Query()
	q.Del("ifMetagenerationMatch")
	fwd.URL.RawQuery = q.Encode()
	rec := httptest.NewRecorder()
	c.next.ServeHTTP(rec, fwd)
	if rec.Code == http.StatusOK {
		c.metagenerations[key] = metageneration + 1
	}
	c.replyLocked(w, rec)
}

// compose checks what fake-gcs-server does not: the destination's
// preconditions, the sources' generations and the CRC32C the request
// declares for the result.
func (c *checks) compose(w http.ResponseWriter, r *http.Request, bucket, name string) {
	cond, err := gcsapi.ParseConditions(r.URL.Query())
	if err != nil {
		gcsapi.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		gcsapi.Error(w, http.StatusBadRequest, "reading the compose request: "+err.Error())
		return
	}
	var req composeRequest
	if err := json.Unmarshal(body, &req); err != nil {
		gcsapi.Error(w, http.StatusBadRequest, "decoding the compose request: "+err.Error())
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	dst, err := c.lookup(r, bucket, name, 0)
	if err != nil {
		gcsapi.Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	var dstGen, dstMetagen int64
	if dst != nil {
		dstGen, dstMetagen = dst.generation, c.metagenerationLocked(bucket, name, dst.generation)
	}
	if !cond.Met(dstGen, dstMetagen) {
		gcsapi.Error(w, http.StatusPreconditionFailed, gcsapi.ConditionNotMet)
		return
	}
	var crc uint32
	for i, src := range req.SourceObjects {
		attrs, err := c.lookup(r, bucket, src.Name, int64(src.Generation))
		switch {
		case err != nil:
			gcsapi.Error(w, http.StatusInternalServerError, err.Error())
			return
		case attrs == nil:
			gcsapi.Error(w, http.StatusNotFound, fmt.Sprintf("source object %s not found", src.Name))
			return
		case src.ObjectPreconditions != nil && int64(src.ObjectPreconditions.IfGenerationMatch) != attrs.generation:
			gcsapi.Error(w, http.StatusPreconditionFailed, gcsapi.ConditionNotMet)
			return
		case i == 0:
			crc = attrs.crc32c
		default:
			crc = crc32c.Combine(crc, attrs.crc32c, attrs.size)
		}
	}
	if declared := req.Destination.CRC32C; declared != "" && declared != crc32c.Encode(crc) {
		gcsapi.Error(w, http.StatusBadRequest, fmt.Sprintf("provided CRC32C %q doesn't match calculated %q", declared, crc32c.Encode(crc)))
		return
	}
	fwd := withoutConditions(r)
	fwd.Body = io.NopCloser(bytes.NewReader(body))
	fwd.ContentLength = int64(len(body))
	rec := httptest.NewRecorder()
	c.next.ServeHTTP(rec, fwd)
	c.replyLocked(w, rec)
}

// uploadChunk keeps the CRC32C of a resumable upload's bytes and refuses a
// final chunk whose X-Goog-Hash declares another, as GCS does: the object
// is then never created. fake-gcs-server holds every upload in memory, and
// so does this check, one chunk at a time.
func (c *checks) uploadChunk(w http.ResponseWriter, r *http.Request, id string) {
	first, total, err := gcsapi.ParseContentRange(r.Header.Get("Content-Range"))
	if err != nil {
		c.forward(w, r)
		return
	}
	chunk, err := io.ReadAll(r.Body)
	if err != nil {
		gcsapi.Error(w, http.StatusBadRequest, "reading the chunk: "+err.Error())
		return
	}
	c.mu.Lock()
	sum := c.uploads[id]
	if sum == nil {
		sum = &uploadSum{}
		c.uploads[id] = sum
	}
	next := *sum
	c.mu.Unlock()
	// Bytes sent again (after a lost answer) count once, as in GCS.
	fresh := chunk
	switch {
	case first < 0:
	case first < next.received:
		fresh = chunk[min(int64(len(chunk)), next.received-first):]
	case first > next.received:
		next.unknown = true
	}
	next.crc = crc32c.Combine(next.crc, crc32c.Checksum(fresh), int64(len(fresh)))
	next.received += int64(len(fresh))
	final := total >= 0
	if declared := googHash(r.Header).CRC32C; final && declared != "" && !next.unknown && declared != crc32c.Encode(next.crc) {
		c.mu.Lock()
		delete(c.uploads, id)
		c.mu.Unlock()
		gcsapi.Error(w, http.StatusBadRequest, fmt.Sprintf("provided CRC32C %q doesn't match calculated %q", declared, crc32c.Encode(next.crc)))
		return
	}
	fwd := r.Clone(r.Context())
	fwd.Body = io.NopCloser(bytes.NewReader(chunk))
	fwd.ContentLength = int64(len(chunk))
	rec := httptest.NewRecorder()
	c.next.ServeHTTP(rec, fwd)
	c.mu.Lock()
	switch {
	case final:
		delete(c.uploads, id)
	case rec.Code == http.StatusPermanentRedirect || rec.Header().Get("X-Http-Status-Code-Override") == "308":
		*sum = next
	}
	c.replyLocked(w, rec)
	c.mu.Unlock()
}

// googHash reads the checksums an X-Goog-Hash header declares
// ("crc32c=<base64>,md5=<base64>", possibly in several headers).
func googHash(h http.Header) objectResource {
	var res objectResource
	for _, v := range h.Values("X-Goog-Hash") {
		for _, kv := range strings.Split(v, ",") {
			k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
			switch k {
			case "crc32c":
				res.CRC32C = v
			case "md5":
				res.MD5Hash = v
			}
		}
	}
	return res
}

// objectFacts are what a check needs of an object.
type objectFacts struct {
	generation int64
	size       int64
	crc32c     uint32
}

// lookup reads an object's live generation (or the given one) through the
// layer behind; nil when there is none.
func (c *checks) lookup(r *http.Request, bucket, name string, generation int64) (*objectFacts, error) {
	u := "/storage/v1/b/" + url.PathEscape(bucket) + "/o/" + url.PathEscape(name)
	if generation != 0 {
		u += "?generation=" + strconv.FormatInt(generation, 10)
	}
	get := httptest.NewRequest(http.MethodGet, u, nil)
	get.Host = r.Host
	rec := httptest.NewRecorder()
	c.next.ServeHTTP(rec, get)
	if rec.Code == http.StatusNotFound {
		return nil, nil
	}
	if rec.Code != http.StatusOK {
		return nil, fmt.Errorf("reading %s/%s: status %d", bucket, name, rec.Code)
	}
	var res struct {
		Generation int64  `json:"generation,string"`
		Size       int64  `json:"size,string"`
		CRC32C     string `json:"crc32c"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
		return nil, fmt.Errorf("reading %s/%s: %w", bucket, name, err)
	}
	crc, err := decodeCRC32C(res.CRC32C)
	if err != nil {
		return nil, fmt.Errorf("reading %s/%s: %w", bucket, name, err)
	}
	return &objectFacts{generation: res.Generation, size: res.Size, crc32c: crc}, nil
}

func decodeCRC32C(s string) (uint32, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != 4 {
		return 0, fmt.Errorf("crc32c %q is not 4 bytes in base64", s)
	}
	return binary.BigEndian.Uint32(b), nil
}

// metagenerationLocked is a generation's metageneration. c.mu is held.
func (c *checks) metagenerationLocked(bucket, name string, generation int64) int64 {
	if m, ok := c.metagenerations[generationKey{bucket, name, generation}]; ok {
		return m
	}
	return fakeMetageneration
}

// withoutConditions is r without its preconditions, once they were checked.
func withoutConditions(r *http.Request) *http.Request {
	fwd := r.Clone(r.Context())
	q := fwd.URL.Query()
	for _, k := range []string{"ifGenerationMatch", "ifGenerationNotMatch", "ifMetagenerationMatch", "ifMetagenerationNotMatch"} {
		q.Del(k)
	}
	fwd.URL.RawQuery = q.Encode()
	return fwd
}

// forward passes r to the layer behind, with the metagenerations kept here
// in the object resources of its answer.
func (c *checks) forward(w http.ResponseWriter, r *http.Request) {
	rec := httptest.NewRecorder()
	c.next.ServeHTTP(rec, r)
	c.reply(w, rec)
}

func (c *checks) reply(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.replyLocked(w, rec)
}

// replyLocked copies an answer to w. c.mu is held.
func (c *checks) replyLocked(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
	body := rec.Body.Bytes()
	if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") && rec.Code < 300 {
		body = c.withMetagenerationsLocked(body)
	}
	for k, v := range rec.Header() {
		if k != "Content-Length" {
			w.Header()[k] = v
		}
	}
	w.WriteHeader(rec.Code)
	w.Write(body)
}

// withMetagenerationsLocked sets the metageneration of the object resource,
// or of the listing's objects, in a JSON answer. c.mu is held.
func (c *checks) withMetagenerationsLocked(body []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var res map[string]any
	if dec.Decode(&res) != nil {
		return body
	}
	set := func(o map[string]any) bool {
		bucket, ok1 := o["bucket"].(string)
		name, ok2 := o["name"].(string)
		gen, err := strconv.ParseInt(fmt.Sprint(o["generation"]), 10, 64)
		if !ok1 || !ok2 || err != nil {
			return false
		}
		o["metageneration"] = strconv.FormatInt(c.metagenerationLocked(bucket, name, gen), 10)
		return true
	}
	changed := false
	if items, ok := res["items"].([]any); ok && res["kind"] == "storage#objects" {
		for _, item := range items {
			if o, ok := item.(map[string]any); ok && set(o) {
				changed = true
			}
		}
	} else {
		changed = set(res)
	}
	if !changed {
		return body
	}
	out, err := json.Marshal(res)
	if err != nil {
		return body
	}
	return append(out, '\n')
}
