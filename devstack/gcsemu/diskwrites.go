package gcsemu

import (
	"bytes"
	"cmp"
	"crypto/md5"
	"encoding"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"io/fs"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pkg/xattr"

	"github.com/wochit-ingest/wochit-ingest/devstack/gcsapi"
	"github.com/wochit-ingest/wochit-ingest/internal/crc32c"
)

// diskWrites serves the write paths of the JSON API that the storage client
// uses — multipart and resumable uploads, compose, metadata patches — for a
// disk-backed emulator, streaming bytes to disk. fake-gcs-server v1.56.1
// holds a whole object in memory while it writes one (and re-hashes a
// resumable upload on every chunk, and rewrites an object to patch its
// metadata), so `dev` would need gigabytes of memory for a video of
// gigabytes. Everything else (reads, downloads, listing, deletes) is left to
// fake-gcs-server, which reads the files written here: an object is the file
// <root>/<bucket>/<name> with its attributes as JSON in the extended
// attribute user.metadata, exactly as fake-gcs-server's filesystem backend
// stores it. On a filesystem without extended attributes, where that backend
// keeps the attributes in side files, this layer stays out of the way.
type diskWrites struct {
	fake http.Handler
	root string
	// tmp holds objects being written: outside root, so fake-gcs-server
	// never lists them, on the same filesystem, so committing is a rename.
	tmp string

	mu       sync.Mutex // orders precondition checks with commits
	lastGen  int64
	sessions map[string]*uploadSession
	nextID   int
}

// fakeMetageneration is every object's metageneration: fake-gcs-server's
// filesystem backend does not track them and always reports 1.
const fakeMetageneration = 1

// metadataXattr is where fake-gcs-server's filesystem backend keeps an
// object's attributes.
const metadataXattr = "user.metadata"

// sessionIdleLimit is how long an unfinished resumable upload is kept
// without a chunk arriving: a client that gave up does not come back.
const sessionIdleLimit = time.Hour

// newDiskWrites returns nil when root's filesystem lacks extended attributes
// (fake-gcs-server then stores attributes in a format this layer does not
// write).
func newDiskWrites(fake http.Handler, root string) (*diskWrites, error) {
	if _, err := xattr.Get(root, metadataXattr); err != nil && !errors.Is(err, xattr.ENOATTR) {
		return nil, nil
	}
	tmp := filepath.Clean(root) + ".uploads"
	// Uploads do not survive a restart (nor do their sessions): clear them.
	if err := os.RemoveAll(tmp); err != nil {
		return nil, fmt.Errorf("clearing unfinished uploads: %w", err)
	}
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return nil, fmt.Errorf("creating GCS emulator upload directory: %w", err)
	}
	return &diskWrites{fake: fake, root: root, tmp: tmp, sessions: map[string]*uploadSession{}}, nil
}

func (d *diskWrites) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !d.serve(w, r) {
		d.fake.ServeHTTP(w, r)
	}
}

// serve handles r if it is a write this layer implements and reports whether
// it did.
func (d *diskWrites) serve(w http.ResponseWriter, r *http.Request) bool {
	path := r.URL.EscapedPath()
	q := r.URL.Query()
	if rest, ok := strings.CutPrefix(path, "/upload/storage/v1/b/"); ok {
		bucket, ok := strings.CutSuffix(strings.TrimSuffix(rest, "/"), "/o")
		if !ok || strings.Contains(bucket, "/") {
			return false
		}
		bucket, _ = url.PathUnescape(bucket)
		switch {
		case q.Get("upload_id") != "" && r.Method == http.MethodDelete:
			d.cancelUpload(w, q.Get("upload_id"))
		case q.Get("upload_id") != "":
			d.uploadChunk(w, r, q.Get("upload_id"))
		case r.Method != http.MethodPost:
			return false
		case q.Get("uploadType") == "multipart":
			d.multipartUpload(w, r, bucket)
		case q.Get("uploadType") == "resumable":
			d.startUpload(w, r, bucket)
		default:
			return false
		}
		return true
	}
	rest, ok := strings.CutPrefix(path, "/storage/v1/b/")
	if !ok {
		return false
	}
	bucket, objPath, ok := strings.Cut(rest, "/o/")
	if !ok || strings.Contains(bucket, "/") {
		return false
	}
	bucket, _ = url.PathUnescape(bucket)
	switch {
	case r.Method == http.MethodPost && strings.HasSuffix(objPath, "/compose"):
		name, err := url.PathUnescape(strings.TrimSuffix(objPath, "/compose"))
		if err != nil {
			return false
		}
		d.compose(w, r, bucket, name)
		return true
	case r.Method == http.MethodPatch:
		name, err := url.PathUnescape(objPath)
		if err != nil {
			return false
		}
		return d.patch(w, r, bucket, name)
	}
	return false
}

// objectResource is the part of the JSON API's object resource that uploads,
// compose destinations and patches carry.
type objectResource struct {
	Name               string            `json:"name"`
	ContentType        string            `json:"contentType"`
	ContentEncoding    string            `json:"contentEncoding"`
	ContentDisposition string            `json:"contentDisposition"`
	ContentLanguage    string            `json:"contentLanguage"`
	CacheControl       string            `json:"cacheControl"`
	StorageClass       string            `json:"storageClass"`
	CustomTime         string            `json:"customTime"`
	Metadata           map[string]string `json:"metadata"`
	CRC32C             string            `json:"crc32c"`
	MD5Hash            string            `json:"md5Hash"`
}

// storedAttrs mirrors fake-gcs-server's backend.ObjectAttrs as it is stored
// (JSON without tags: field names as they are). TestDiskWritesReadByFake
// checks that fake-gcs-server reads what is written here.
type storedAttrs struct {
	StorageClass       string
	ContentType        string
	ContentEncoding    string
	ContentDisposition string
	ContentLanguage    string
	CacheControl       string
	Crc32c             string
	Md5Hash            string
	Etag               string
	Metadata           map[string]string
	Created            string
	Updated            string
	CustomTime         string
	Generation         int64
}

// timestampFormat is fake-gcs-server's.
const timestampFormat = "2006-01-02T15:04:05.999999Z07:00"

// written is an object's content in a temporary file, with its checksums.
type written struct {
	path   string
	crc32c uint32
	md5    []byte // nil for composed objects, as in GCS
}

// checkDeclared rejects content whose checksums differ from those the client
// declared, as GCS does.
func checkDeclared(res objectResource, got written) error {
	if res.CRC32C != "" && res.CRC32C != crc32c.Encode(got.crc32c) {
		return fmt.Errorf("provided CRC32C %q doesn't match calculated %q", res.CRC32C, crc32c.Encode(got.crc32c))
	}
	if res.MD5Hash != "" && got.md5 != nil && res.MD5Hash != base64.StdEncoding.EncodeToString(got.md5) {
		return fmt.Errorf("provided MD5 hash %q doesn't match calculated %q", res.MD5Hash, base64.StdEncoding.EncodeToString(got.md5))
	}
	return nil
}

// objectPath is where an object's file lives, or an error for a name that
// would leave the bucket's directory.
func (d *diskWrites) objectPath(bucket, name string) (string, error) {
	for _, seg := range strings.Split(name, "/") {
		if seg == "." || seg == ".." || seg == "" {
			return "", fmt.Errorf("%w: object name %q is not supported by the emulator", errBadRequest, name)
		}
	}
	dir := filepath.Join(d.root, url.PathEscape(bucket))
	if bucket == "" || bucket == "." || bucket == ".." {
		return "", errNoBucket
	}
	if _, err := os.Stat(dir); err != nil {
		return "", errNoBucket
	}
	return filepath.Join(dir, filepath.FromSlash(name)), nil
}

var errNoBucket = errors.New("bucket not found")

// readAttrs returns an object's stored attributes, raw, and its generation
// (0 if it does not exist).
func readAttrs(path string) (map[string]json.RawMessage, int64, error) {
	data, err := xattr.Get(path, metadataXattr)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, xattr.ENOATTR) {
			return nil, 0, nil
		}
		return nil, 0, err
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, 0, fmt.Errorf("reading attributes of %s: %w", path, err)
	}
	var gen int64
	if g, ok := raw["Generation"]; ok {
		if err := json.Unmarshal(g, &gen); err != nil {
			return nil, 0, fmt.Errorf("reading generation of %s: %w", path, err)
		}
	}
	return raw, gen, nil
}

// commit makes the written content the object bucket/name, if the
// conditions hold, and answers with the object as fake-gcs-server sees it.
func (d *diskWrites) commit(w http.ResponseWriter, r *http.Request, bucket string, res objectResource, c gcsapi.Conditions, content written) {
	defer os.Remove(content.path) // a no-op once renamed
	if err := checkDeclared(res, content); err != nil {
		gcsapi.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	path, err := d.objectPath(bucket, res.Name)
	if err != nil {
		gcsapi.Error(w, statusOf(err), err.Error())
		return
	}
	now := time.Now()
	attrs := storedAttrs{
		StorageClass:       cmp.Or(res.StorageClass, "STANDARD"),
		ContentType:        cmp.Or(res.ContentType, "application/octet-stream"),
		ContentEncoding:    res.ContentEncoding,
		ContentDisposition: res.ContentDisposition,
		ContentLanguage:    res.ContentLanguage,
		CacheControl:       res.CacheControl,
		CustomTime:         res.CustomTime,
		Metadata:           res.Metadata,
		Crc32c:             crc32c.Encode(content.crc32c),
		Created:            now.Format(timestampFormat),
		Updated:            now.Format(timestampFormat),
	}
	attrs.Etag = attrs.Crc32c
	if content.md5 != nil {
		attrs.Md5Hash = base64.StdEncoding.EncodeToString(content.md5)
		attrs.Etag = attrs.Md5Hash
	}

	d.mu.Lock()
	_, live, err := readAttrs(path)
	if err != nil {
		d.mu.Unlock()
		gcsapi.Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	if !c.Met(live, fakeMetageneration) {
		d.mu.Unlock()
		gcsapi.Error(w, http.StatusPreconditionFailed, gcsapi.ConditionNotMet)
		return
	}
	d.lastGen = max(d.lastGen+1, now.UnixMicro())
	attrs.Generation = d.lastGen
	err = d.place(content.path, path, attrs)
	d.mu.Unlock()
	if err != nil {
		gcsapi.Error(w, statusOf(err), err.Error())
		return
	}
	d.respondWithObject(w, r, bucket, res.Name)
}

// place gives the file its attributes, then moves it into the bucket: the
// object appears whole, attributes and all, or not at all.
func (d *diskWrites) place(tmp, path string, attrs storedAttrs) error {
	if err := setAttrs(tmp, attrs); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// respondWithObject answers with fake-gcs-server's own JSON for the object,
// so responses look the same whichever layer wrote it.
func (d *diskWrites) respondWithObject(w http.ResponseWriter, r *http.Request, bucket, name string) {
	u := "/storage/v1/b/" + url.PathEscape(bucket) + "/o/" + url.PathEscape(name)
	get := httptest.NewRequest(http.MethodGet, u, nil)
	get.Host = r.Host
	rec := httptest.NewRecorder()
	d.fake.ServeHTTP(rec, get)
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	w.Write(rec.Body.Bytes())
}

// tempFile creates a file for content being written.
func (d *diskWrites) tempFile() (*os.File, error) {
	return os.CreateTemp(d.tmp, "object-")
}

// receive streams r into a new temporary file, hashing it on the way.
func (d *diskWrites) receive(r io.Reader) (written, error) {
	f, err := d.tempFile()
	if err != nil {
		return written{}, err
	}
	defer f.Close()
	crc := crc32.New(crc32c.Table)
	sum := md5.New()
	_, err = io.Copy(io.MultiWriter(f, crc, sum), r)
	if err == nil {
		err = f.Close()
	}
	if err != nil {
		os.Remove(f.Name())
		return written{}, err
	}
	return written{path: f.Name(), crc32c: crc.Sum32(), md5: sum.Sum(nil)}, nil
}

func (d *diskWrites) multipartUpload(w http.ResponseWriter, r *http.Request, bucket string) {
	c, err := gcsapi.ParseConditions(r.URL.Query())
	if err != nil {
		gcsapi.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	_, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || params["boundary"] == "" {
		gcsapi.Error(w, http.StatusBadRequest, "a multipart upload needs a multipart/related body")
		return
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	metaPart, err := mr.NextPart()
	if err != nil {
		gcsapi.Error(w, http.StatusBadRequest, "reading the metadata part: "+err.Error())
		return
	}
	var res objectResource
	if err := json.NewDecoder(metaPart).Decode(&res); err != nil {
		gcsapi.Error(w, http.StatusBadRequest, "decoding the metadata part: "+err.Error())
		return
	}
	res.Name = cmp.Or(r.URL.Query().Get("name"), res.Name)
	media, err := mr.NextPart()
	if err != nil {
		gcsapi.Error(w, http.StatusBadRequest, "reading the media part: "+err.Error())
		return
	}
	res.ContentType = cmp.Or(res.ContentType, media.Header.Get("Content-Type"))
	content, err := d.receive(media)
	if err != nil {
		gcsapi.Error(w, http.StatusBadRequest, "reading the media: "+err.Error())
		return
	}
	d.commit(w, r, bucket, res, c, content)
}

// uploadSession is a resumable upload in progress: the bytes received so far
// are in file, and the hashes cover exactly them.
type uploadSession struct {
	mu       sync.Mutex
	bucket   string
	res      objectResource
	cond     gcsapi.Conditions
	file     *os.File
	received int64
	crc      uint32
	md5      hash.Hash
	lastUsed time.Time
}

func (d *diskWrites) startUpload(w http.ResponseWriter, r *http.Request, bucket string) {
	c, err := gcsapi.ParseConditions(r.URL.Query())
	if err != nil {
		gcsapi.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	var res objectResource
	if err := json.NewDecoder(r.Body).Decode(&res); err != nil && err != io.EOF {
		gcsapi.Error(w, http.StatusBadRequest, "decoding the object resource: "+err.Error())
		return
	}
	res.Name = cmp.Or(r.URL.Query().Get("name"), res.Name)
	res.ContentType = cmp.Or(res.ContentType, r.Header.Get("X-Upload-Content-Type"))
	if _, err := d.objectPath(bucket, res.Name); err != nil {
		gcsapi.Error(w, statusOf(err), err.Error())
		return
	}
	f, err := d.tempFile()
	if err != nil {
		gcsapi.Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	s := &uploadSession{bucket: bucket, res: res, cond: c, file: f, md5: md5.New(), lastUsed: time.Now()}
	d.mu.Lock()
	d.dropIdleSessions(s.lastUsed)
	d.nextID++
	id := fmt.Sprintf("%d-%d", s.lastUsed.UnixNano(), d.nextID)
	d.sessions[id] = s
	d.mu.Unlock()
	w.Header().Set("Location", fmt.Sprintf("http://%s/upload/storage/v1/b/%s/o?uploadType=resumable&upload_id=%s",
		r.Host, url.PathEscape(bucket), id))
	w.WriteHeader(http.StatusOK)
}

// dropIdleSessions forgets uploads their clients abandoned. d.mu is held.
func (d *diskWrites) dropIdleSessions(now time.Time) {
	for id, s := range d.sessions {
		if s.mu.TryLock() {
			if now.Sub(s.lastUsed) > sessionIdleLimit {
				delete(d.sessions, id)
				s.discard()
			}
			s.mu.Unlock()
		}
	}
}

// discard removes the session's file. s.mu is held.
func (s *uploadSession) discard() {
	if s.file != nil {
		s.file.Close()
		os.Remove(s.file.Name())
		s.file = nil
	}
}

func (d *diskWrites) session(id string) *uploadSession {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sessions[id]
}

func (d *diskWrites) cancelUpload(w http.ResponseWriter, id string) {
	d.mu.Lock()
	s := d.sessions[id]
	delete(d.sessions, id)
	d.mu.Unlock()
	if s == nil {
		gcsapi.Error(w, http.StatusNotFound, "no such upload")
		return
	}
	s.mu.Lock()
	s.discard()
	s.mu.Unlock()
	// GCS answers a cancelled upload with 499.
	w.WriteHeader(499)
}

// uploadChunk appends a chunk to a resumable upload. A chunk that fails
// half-way is rolled back, file and hashes, so the client can send it again;
// a chunk sent again after it was taken has its known bytes skipped.
func (d *diskWrites) uploadChunk(w http.ResponseWriter, r *http.Request, id string) {
	s := d.session(id)
	if s == nil {
		gcsapi.Error(w, http.StatusNotFound, "no such upload")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.file == nil {
		gcsapi.Error(w, http.StatusNotFound, "no such upload")
		return
	}
	s.lastUsed = time.Now()
	first, total, err := gcsapi.ParseContentRange(r.Header.Get("Content-Range"))
	if err != nil {
		gcsapi.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	if first > s.received {
		gcsapi.Error(w, http.StatusBadRequest, fmt.Sprintf("chunk starts at byte %d, but only %d bytes were received", first, s.received))
		return
	}
	body := io.Reader(r.Body)
	if first >= 0 && first < s.received {
		if _, err := io.CopyN(io.Discard, body, s.received-first); err != nil {
			gcsapi.Error(w, http.StatusBadRequest, "reading the chunk: "+err.Error())
			return
		}
	}
	md5State, err := s.md5.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		gcsapi.Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	crc := crc32.New(crc32c.Table)
	n, err := io.Copy(io.MultiWriter(s.file, crc, s.md5), body)
	if err != nil {
		// Roll back to the last whole chunk.
		if rollbackErr := s.rollback(md5State); rollbackErr != nil {
			err = errors.Join(err, rollbackErr)
		}
		gcsapi.Error(w, http.StatusBadRequest, "reading the chunk: "+err.Error())
		return
	}
	s.crc = crc32c.Combine(s.crc, crc.Sum32(), n)
	s.received += n
	if total < 0 || s.received < total {
		// More to come.
		if s.received > 0 {
			w.Header().Set("Range", fmt.Sprintf("bytes=0-%d", s.received-1))
		}
		if _, no308 := r.Header["X-Guploader-No-308"]; no308 {
			w.Header().Set("X-Http-Status-Code-Override", "308")
			w.WriteHeader(http.StatusOK)
		} else {
			w.WriteHeader(http.StatusPermanentRedirect)
		}
		return
	}
	if s.received != total {
		gcsapi.Error(w, http.StatusBadRequest, fmt.Sprintf("received %d bytes, but the upload declares %d", s.received, total))
		return
	}
	d.mu.Lock()
	delete(d.sessions, id)
	d.mu.Unlock()
	path := s.file.Name()
	if err := s.file.Close(); err != nil {
		os.Remove(path)
		gcsapi.Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	s.file = nil
	content := written{path: path, crc32c: s.crc, md5: s.md5.Sum(nil)}
	// The final chunk may declare the whole object's checksums (the storage
	// client sends its CRC32C); GCS refuses the object if they differ.
	if err := checkDeclared(googHash(r.Header), content); err != nil {
		os.Remove(path)
		gcsapi.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	res := s.res
	res.ContentType = cmp.Or(res.ContentType, r.Header.Get("Content-Type"))
	d.commit(w, r, s.bucket, res, s.cond, content)
}

// rollback truncates the file to the bytes received before the chunk and
// restores the MD5 state saved then. s.mu is held.
func (s *uploadSession) rollback(md5State []byte) error {
	if err := s.md5.(encoding.BinaryUnmarshaler).UnmarshalBinary(md5State); err != nil {
		return err
	}
	if err := s.file.Truncate(s.received); err != nil {
		return err
	}
	_, err := s.file.Seek(s.received, io.SeekStart)
	return err
}

// int64String is a JSON API int64: a string, or a number from lenient
// clients.
type int64String int64

func (n *int64String) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	v, err := strconv.ParseInt(s, 10, 64)
	*n = int64String(v)
	return err
}

type sourcePreconditions struct {
	IfGenerationMatch int64String `json:"ifGenerationMatch"`
}

type composeRequest struct {
	SourceObjects []struct {
		Name                string               `json:"name"`
		Generation          int64String          `json:"generation"`
		ObjectPreconditions *sourcePreconditions `json:"objectPreconditions"`
	} `json:"sourceObjects"`
	Destination objectResource `json:"destination"`
}

// compose concatenates the sources into a new file, computing its CRC32C on
// the way. Like GCS, a composed object has a CRC32C and no MD5.
func (d *diskWrites) compose(w http.ResponseWriter, r *http.Request, bucket, name string) {
	c, err := gcsapi.ParseConditions(r.URL.Query())
	if err != nil {
		gcsapi.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	var req composeRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		gcsapi.Error(w, http.StatusBadRequest, "decoding the compose request: "+err.Error())
		return
	}
	if n := len(req.SourceObjects); n == 0 || n > 32 {
		gcsapi.Error(w, http.StatusBadRequest, fmt.Sprintf("a compose takes 1 to 32 source objects, not %d", n))
		return
	}
	f, err := d.tempFile()
	if err != nil {
		gcsapi.Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	content := written{path: f.Name()}
	crc := crc32.New(crc32c.Table)
	for _, src := range req.SourceObjects {
		status, err := d.appendSource(io.MultiWriter(f, crc), bucket, src.Name, int64(src.Generation), src.ObjectPreconditions)
		if err != nil {
			f.Close()
			os.Remove(content.path)
			gcsapi.Error(w, status, err.Error())
			return
		}
	}
	if err := f.Close(); err != nil {
		os.Remove(content.path)
		gcsapi.Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	content.crc32c = crc.Sum32()
	res := req.Destination
	res.Name = name
	d.commit(w, r, bucket, res, c, content)
}

// appendSource copies one source object to dst, checking the generation the
// request names.
func (d *diskWrites) appendSource(dst io.Writer, bucket, name string, generation int64, pre *sourcePreconditions) (int, error) {
	path, err := d.objectPath(bucket, name)
	if err != nil {
		return statusOf(err), err
	}
	f, err := os.Open(path)
	if err != nil {
		return http.StatusNotFound, fmt.Errorf("source object %s not found", name)
	}
	defer f.Close()
	// The attributes of the file opened: a later replacement does not matter.
	data, err := xattr.FGet(f, metadataXattr)
	if err != nil {
		return http.StatusNotFound, fmt.Errorf("source object %s not found", name)
	}
	var attrs storedAttrs
	if err := json.Unmarshal(data, &attrs); err != nil {
		return http.StatusInternalServerError, err
	}
	if generation != 0 && generation != attrs.Generation {
		return http.StatusNotFound, fmt.Errorf("source object %s has no generation %d", name, generation)
	}
	if pre != nil && int64(pre.IfGenerationMatch) != attrs.Generation {
		return http.StatusPreconditionFailed, fmt.Errorf("conditionNotMet: source object %s is not at generation %d", name, pre.IfGenerationMatch)
	}
	if _, err := io.Copy(dst, f); err != nil {
		return http.StatusInternalServerError, err
	}
	return 0, nil
}

// patchable are the object fields a patch may change here; a patch of
// anything else is left to fake-gcs-server.
var patchable = map[string]string{
	"metadata":           "Metadata",
	"contentType":        "ContentType",
	"contentEncoding":    "ContentEncoding",
	"contentDisposition": "ContentDisposition",
	"contentLanguage":    "ContentLanguage",
	"cacheControl":       "CacheControl",
	"customTime":         "CustomTime",
}

// patch changes an object's attributes in place. Unlike fake-gcs-server,
// which rewrites the object (and gives it a new generation), it leaves the
// bytes and the generation alone, as GCS does. It reports false for a patch
// it leaves to fake-gcs-server.
func (d *diskWrites) patch(w http.ResponseWriter, r *http.Request, bucket, name string) bool {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		gcsapi.Error(w, http.StatusBadRequest, "reading the patch: "+err.Error())
		return true
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		gcsapi.Error(w, http.StatusBadRequest, "decoding the patch: "+err.Error())
		return true
	}
	// The client names the object in the body too.
	delete(fields, "bucket")
	delete(fields, "name")
	for k := range fields {
		if _, ok := patchable[k]; !ok {
			r.Body = io.NopCloser(strings.NewReader(string(body)))
			return false
		}
	}
	c, err := gcsapi.ParseConditions(r.URL.Query())
	if err != nil {
		gcsapi.Error(w, http.StatusBadRequest, err.Error())
		return true
	}
	path, err := d.objectPath(bucket, name)
	if err != nil {
		gcsapi.Error(w, statusOf(err), err.Error())
		return true
	}

	d.mu.Lock()
	err = d.patchLocked(path, fields, c)
	d.mu.Unlock()
	if err != nil {
		gcsapi.Error(w, statusOf(err), err.Error())
		return true
	}
	d.respondWithObject(w, r, bucket, name)
	return true
}

var (
	errNotFound        = errors.New("object not found")
	errConditionNotMet = errors.New(gcsapi.ConditionNotMet)
)

// patchLocked applies fields to the stored attributes. d.mu is held.
func (d *diskWrites) patchLocked(path string, fields map[string]json.RawMessage, c gcsapi.Conditions) error {
	stored, gen, err := readAttrs(path)
	if err != nil {
		return err
	}
	if stored == nil {
		return errNotFound
	}
	if !c.Met(gen, fakeMetageneration) {
		return errConditionNotMet
	}
	for k, v := range fields {
		key := patchable[k]
		if k != "metadata" || string(v) == "null" {
			stored[key] = v
			continue
		}
		// Metadata is patched key by key; a null value removes a key.
		var current map[string]string
		if m, ok := stored[key]; ok {
			json.Unmarshal(m, &current)
		}
		var changes map[string]*string
		if err := json.Unmarshal(v, &changes); err != nil {
			return fmt.Errorf("%w: metadata: %v", errBadRequest, err)
		}
		if current == nil {
			current = map[string]string{}
		}
		for mk, mv := range changes {
			if mv == nil {
				delete(current, mk)
			} else {
				current[mk] = *mv
			}
		}
		stored[key], _ = json.Marshal(current)
	}
	stored["Updated"], _ = json.Marshal(time.Now().Format(timestampFormat))
	return setAttrs(path, stored)
}

// setAttrs stores an object's attributes in its extended attribute. They are
// encoded without HTML escaping ('<' stays one byte, not six): ext4 holds at
// most about 4 KiB of extended attributes per file. Attributes that still do
// not fit are a 400, as GCS answers metadata over its own limit — never a
// 500, which the storage client would retry for ever.
func setAttrs(path string, attrs any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(attrs); err != nil {
		return err
	}
	encoded := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if err := xattr.Set(path, metadataXattr, encoded); err != nil {
		if errors.Is(err, syscall.E2BIG) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.ERANGE) {
			return fmt.Errorf("%w: object attributes of %d bytes do not fit this filesystem's extended attributes", errBadRequest, len(encoded))
		}
		return fmt.Errorf("storing object attributes: %w", err)
	}
	return nil
}

var errBadRequest = errors.New("bad request")

func statusOf(err error) int {
	switch {
	case errors.Is(err, errNoBucket), errors.Is(err, errNotFound):
		return http.StatusNotFound
	case errors.Is(err, errConditionNotMet):
		return http.StatusPreconditionFailed
	case errors.Is(err, errBadRequest):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}
