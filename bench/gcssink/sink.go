// Package gcssink is a GCS look-alike for benchmarks: it implements the JSON
// API calls the storage client makes for uploads (multipart, resumable),
// compose, object metadata, listing and deletion, computes each object's
// CRC32C while the bytes stream in, and throws the bytes away but the first
// and last MiB of each object (KeptBytes), which it serves to ranged reads:
// what a transfer reads back to check a video's structure. Unlike
// fake-gcs-server, which keeps whole objects in memory and re-hashes them on
// every chunk, or dev's emulator, which writes to disk, it can take gigabytes
// at line rate, so it measures the uploader.
package gcssink

import (
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wochit-ingest/wochit-ingest/devstack/gcsapi"
	"github.com/wochit-ingest/wochit-ingest/internal/crc32c"
)

type object struct {
	Bucket         string
	Name           string
	ContentType    string
	Size           int64
	CRC32C         uint32
	Generation     int64
	Metageneration int64
	Metadata       map[string]string
	ComponentCount int
	Kept           []segment // see KeptBytes
}

type session struct {
	meta     objectMeta
	cond     gcsapi.Conditions
	received int64
	crc      uint32
	kept     keeper
}

type objectMeta struct {
	Name        string            `json:"name"`
	ContentType string            `json:"contentType"`
	Metadata    map[string]string `json:"metadata"`
}

// Sink is the server; serve it with httptest or any listener.
type Sink struct {
	mu       sync.Mutex
	objects  map[string]*object // bucket/name
	sessions map[string]*session
	nextID   int
	nextGen  int64
	received int64
	reads    int64 // media reads (GET of an object's bytes) served
}

// New returns an empty sink; every bucket exists.
func New() *Sink {
	return &Sink{objects: map[string]*object{}, sessions: map[string]*session{}, nextGen: time.Now().UnixNano() / 1000}
}

// Received is the number of object bytes the sink has taken in.
func (s *Sink) Received() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.received
}

// Reads is the number of requests for objects' bytes the sink has served
// or refused (the storage client's reads; not metadata lookups).
func (s *Sink) Reads() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads
}

// Object returns the size and CRC32C of an object, if it exists.
func (s *Sink) Object(bucket, name string) (size int64, crc uint32, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.objects[bucket+"/"+name]
	if o == nil {
		return 0, 0, false
	}
	return o.Size, o.CRC32C, true
}

func (s *Sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.EscapedPath()
	switch {
	case strings.HasPrefix(path, "/upload/storage/v1/b/"):
		s.upload(w, r, strings.TrimSuffix(strings.TrimPrefix(path, "/upload/storage/v1/b/"), "/o"))
	case strings.HasPrefix(path, "/storage/v1/b/"):
		rest := strings.TrimPrefix(path, "/storage/v1/b/")
		bucket, objPath, _ := strings.Cut(rest, "/o")
		objPath = strings.TrimPrefix(objPath, "/")
		name, _ := url.PathUnescape(objPath)
		switch {
		case objPath == "" && r.Method == http.MethodGet:
			s.list(w, r, bucket)
		case strings.HasSuffix(name, "/compose") && r.Method == http.MethodPost:
			s.compose(w, r, bucket, strings.TrimSuffix(name, "/compose"))
		case r.Method == http.MethodGet:
			s.get(w, bucket, name)
		case r.Method == http.MethodPatch:
			s.patch(w, r, bucket, name)
		case r.Method == http.MethodDelete:
			s.delete(w, r, bucket, name)
		default:
			gcsapi.Error(w, http.StatusNotImplemented, "not implemented by the sink")
		}
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		bucket, name, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
		name, _ = url.PathUnescape(name)
		s.read(w, r, bucket, name)
	default:
		gcsapi.Error(w, http.StatusNotFound, "unknown path")
	}
}

func (s *Sink) upload(w http.ResponseWriter, r *http.Request, bucket string) {
	q := r.URL.Query()
	if id := q.Get("upload_id"); id != "" {
		s.chunk(w, r, bucket, id)
		return
	}
	cond, err := gcsapi.ParseConditions(q)
	if err != nil {
		gcsapi.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	switch q.Get("uploadType") {
	case "multipart":
		s.multipart(w, r, bucket, cond)
	case "resumable":
		var meta objectMeta
		if err := json.NewDecoder(r.Body).Decode(&meta); err != nil && err != io.EOF {
			gcsapi.Error(w, http.StatusBadRequest, "bad metadata")
			return
		}
		if meta.Name == "" {
			meta.Name = q.Get("name")
		}
		s.mu.Lock()
		s.nextID++
		id := strconv.Itoa(s.nextID)
		s.sessions[id] = &session{meta: meta, cond: cond}
		s.mu.Unlock()
		w.Header().Set("Location", fmt.Sprintf("http://%s/upload/storage/v1/b/%s/o?uploadType=resumable&upload_id=%s", r.Host, bucket, id))
		w.WriteHeader(http.StatusOK)
	default:
		gcsapi.Error(w, http.StatusBadRequest, "unsupported uploadType")
	}
}

func (s *Sink) multipart(w http.ResponseWriter, r *http.Request, bucket string, cond gcsapi.Conditions) {
	_, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		gcsapi.Error(w, http.StatusBadRequest, "not multipart")
		return
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	metaPart, err := mr.NextPart()
	if err != nil {
		gcsapi.Error(w, http.StatusBadRequest, "no metadata part")
		return
	}
	var meta objectMeta
	if err := json.NewDecoder(metaPart).Decode(&meta); err != nil {
		gcsapi.Error(w, http.StatusBadRequest, "bad metadata")
		return
	}
	if meta.Name == "" {
		meta.Name = r.URL.Query().Get("name")
	}
	media, err := mr.NextPart()
	if err != nil {
		gcsapi.Error(w, http.StatusBadRequest, "no media part")
		return
	}
	if meta.ContentType == "" {
		meta.ContentType = media.Header.Get("Content-Type")
	}
	var kept keeper
	n, crc, err := consume(media, 0, &kept)
	if err != nil {
		gcsapi.Error(w, http.StatusBadRequest, "reading media: "+err.Error())
		return
	}
	s.finish(w, bucket, meta, cond, n, crc, kept.segments())
}

func (s *Sink) chunk(w http.ResponseWriter, r *http.Request, bucket, id string) {
	s.mu.Lock()
	sess := s.sessions[id]
	s.mu.Unlock()
	if sess == nil {
		gcsapi.Error(w, http.StatusNotFound, "no such upload")
		return
	}
	first, total, err := gcsapi.ParseContentRange(r.Header.Get("Content-Range"))
	if err != nil || first >= 0 && first != sess.received {
		gcsapi.Error(w, http.StatusBadRequest, "bad Content-Range")
		return
	}
	final := total >= 0
	n, crc, err := consume(r.Body, sess.crc, &sess.kept)
	if err != nil {
		gcsapi.Error(w, http.StatusBadRequest, "reading chunk")
		return
	}
	sess.received += n
	sess.crc = crc
	if !final {
		w.Header().Set("Range", fmt.Sprintf("bytes=0-%d", sess.received-1))
		w.Header().Set("X-Http-Status-Code-Override", "308")
		w.WriteHeader(http.StatusOK)
		return
	}
	s.mu.Lock()
	delete(s.sessions, id)
	s.mu.Unlock()
	s.finish(w, bucket, sess.meta, sess.cond, sess.received, sess.crc, sess.kept.segments())
}

func consume(r io.Reader, crc uint32, kept *keeper) (int64, uint32, error) {
	buf := make([]byte, 256<<10)
	var n int64
	for {
		k, err := r.Read(buf)
		if k > 0 {
			crc = crc32.Update(crc, crc32c.Table, buf[:k])
			kept.write(buf[:k])
			n += int64(k)
		}
		if err == io.EOF {
			return n, crc, nil
		}
		if err != nil {
			return n, crc, err
		}
	}
}

func (s *Sink) finish(w http.ResponseWriter, bucket string, meta objectMeta, cond gcsapi.Conditions, size int64, crc uint32, kept []segment) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.received += size
	key := bucket + "/" + meta.Name
	if !conditionsMet(s.objects[key], cond) {
		gcsapi.Error(w, http.StatusPreconditionFailed, gcsapi.ConditionNotMet)
		return
	}
	s.nextGen++
	o := &object{Bucket: bucket, Name: meta.Name, ContentType: meta.ContentType, Size: size, CRC32C: crc,
		Generation: s.nextGen, Metageneration: 1, Metadata: meta.Metadata, Kept: kept}
	s.objects[key] = o
	writeObject(w, o)
}

func (s *Sink) get(w http.ResponseWriter, bucket, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.objects[bucket+"/"+name]
	if o == nil {
		gcsapi.Error(w, http.StatusNotFound, "no such object")
		return
	}
	writeObject(w, o)
}

func (s *Sink) list(w http.ResponseWriter, r *http.Request, bucket string) {
	q := r.URL.Query()
	prefix, delim := q.Get("prefix"), q.Get("delimiter")
	s.mu.Lock()
	defer s.mu.Unlock()
	items := []map[string]any{}
	prefixes := map[string]bool{}
	var names []string
	for key, o := range s.objects {
		if strings.HasPrefix(key, bucket+"/") && strings.HasPrefix(o.Name, prefix) {
			names = append(names, key)
		}
	}
	sort.Strings(names)
	for _, key := range names {
		o := s.objects[key]
		rest := strings.TrimPrefix(o.Name, prefix)
		if delim != "" {
			if i := strings.Index(rest, delim); i >= 0 {
				prefixes[prefix+rest[:i+len(delim)]] = true
				continue
			}
		}
		items = append(items, objectJSON(o))
	}
	var ps []string
	for p := range prefixes {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	writeJSON(w, http.StatusOK, map[string]any{"kind": "storage#objects", "items": items, "prefixes": ps})
}

func (s *Sink) patch(w http.ResponseWriter, r *http.Request, bucket, name string) {
	var body struct {
		Metadata map[string]*string `json:"metadata"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		gcsapi.Error(w, http.StatusBadRequest, "bad body")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.objects[bucket+"/"+name]
	if o == nil {
		gcsapi.Error(w, http.StatusNotFound, "no such object")
		return
	}
	if !s.checkConditions(w, r, o) {
		return
	}
	if o.Metadata == nil {
		o.Metadata = map[string]string{}
	}
	for k, v := range body.Metadata {
		if v == nil {
			delete(o.Metadata, k)
		} else {
			o.Metadata[k] = *v
		}
	}
	o.Metageneration++
	writeObject(w, o)
}

func (s *Sink) delete(w http.ResponseWriter, r *http.Request, bucket, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := bucket + "/" + name
	o := s.objects[key]
	if o == nil {
		gcsapi.Error(w, http.StatusNotFound, "no such object")
		return
	}
	if !s.checkConditions(w, r, o) {
		return
	}
	delete(s.objects, key)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Sink) compose(w http.ResponseWriter, r *http.Request, bucket, dest string) {
	var body struct {
		SourceObjects []struct{ Name string } `json:"sourceObjects"`
		Destination   objectMeta              `json:"destination"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || len(body.SourceObjects) == 0 || len(body.SourceObjects) > 32 {
		gcsapi.Error(w, http.StatusBadRequest, "bad compose request")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var size int64
	var crc uint32
	var kept []segment
	components := 0
	for i, src := range body.SourceObjects {
		o := s.objects[bucket+"/"+src.Name]
		if o == nil {
			gcsapi.Error(w, http.StatusNotFound, "no such source "+src.Name)
			return
		}
		if i == 0 {
			crc = o.CRC32C
		} else {
			crc = crc32c.Combine(crc, o.CRC32C, o.Size)
		}
		for _, seg := range o.Kept {
			kept = append(kept, segment{seg.off + size, seg.b})
		}
		size += o.Size
		components += max(o.ComponentCount, 1)
	}
	key := bucket + "/" + dest
	if !s.checkConditions(w, r, s.objects[key]) {
		return
	}
	s.nextGen++
	o := &object{Bucket: bucket, Name: dest, ContentType: body.Destination.ContentType, Size: size, CRC32C: crc,
		Generation: s.nextGen, Metageneration: 1, Metadata: body.Destination.Metadata, ComponentCount: components,
		Kept: keep(kept, size)}
	s.objects[key] = o
	writeObject(w, o)
}

// checkConditions answers 400 or 412 and reports false unless the request's
// preconditions hold for o (nil: no live object).
func (s *Sink) checkConditions(w http.ResponseWriter, r *http.Request, o *object) bool {
	cond, err := gcsapi.ParseConditions(r.URL.Query())
	if err != nil {
		gcsapi.Error(w, http.StatusBadRequest, err.Error())
		return false
	}
	if !conditionsMet(o, cond) {
		gcsapi.Error(w, http.StatusPreconditionFailed, gcsapi.ConditionNotMet)
		return false
	}
	return true
}

func conditionsMet(o *object, cond gcsapi.Conditions) bool {
	if o == nil {
		return cond.Met(0, 0)
	}
	return cond.Met(o.Generation, o.Metageneration)
}

func objectJSON(o *object) map[string]any {
	m := map[string]any{
		"kind": "storage#object", "bucket": o.Bucket, "name": o.Name, "id": o.Bucket + "/" + o.Name,
		"contentType": o.ContentType, "size": strconv.FormatInt(o.Size, 10),
		"crc32c":     crc32c.Encode(o.CRC32C),
		"generation": strconv.FormatInt(o.Generation, 10), "metageneration": strconv.FormatInt(o.Metageneration, 10),
		"metadata": o.Metadata, "timeCreated": time.Now().UTC().Format(time.RFC3339Nano),
	}
	if o.ComponentCount > 0 {
		m["componentCount"] = o.ComponentCount
	}
	return m
}

func writeObject(w http.ResponseWriter, o *object) { writeJSON(w, http.StatusOK, objectJSON(o)) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
