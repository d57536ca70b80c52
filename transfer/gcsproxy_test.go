package transfer_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
)

// gcsProxy sits in front of the emulator and injects faults into what GCS
// receives and answers, and records the objects that requests created.
type gcsProxy struct {
	next        http.Handler
	mu          sync.Mutex
	uploads     int         // upload requests seen
	failUploads map[int]int // 1-based upload request number → status to answer
	failed      int         // faults injected
	tamperCRC   int         // upload responses whose crc32c to falsify
	tampered    int
	// corruptUploads is how many upload requests carrying bytes (a
	// multipart upload, a resumable chunk) get one byte of their body
	// flipped on the way to GCS: what a faulty network or NIC would do.
	corruptUploads int
	corrupted      int
	// beforeDelete, when set, runs before a delete of an object is
	// forwarded, with the object's name.
	beforeDelete func(name string)
	// created records every object an upload or compose created.
	created  []creation
	composes int
	// breakChunk > 0 answers that resumable-upload chunk (1-based) with a
	// malformed response, which the storage client does not retry: its
	// error names the session URI. brokenSessions records the upload_ids.
	breakChunk     int
	chunks         int
	brokenSessions []string
	// requests logs "METHOD /path [uploadType=T] [ifGenerationMatch=N] →
	// status" of every request, in the order they were answered.
	requests []string
}

func (p *gcsProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	entry := r.Method + " " + r.URL.Path
	for _, param := range []string{"uploadType", "ifGenerationMatch"} {
		if v := r.URL.Query().Get(param); v != "" {
			entry += " " + param + "=" + v
		}
	}
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	p.serve(sw, r)
	p.mu.Lock()
	p.requests = append(p.requests, fmt.Sprintf("%s → %d", entry, sw.status))
	p.mu.Unlock()
}

// statusWriter remembers the status of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.status = 0
	return w.ResponseWriter.(http.Hijacker).Hijack()
}

func (w *statusWriter) Flush() { w.ResponseWriter.(http.Flusher).Flush() }

func (p *gcsProxy) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasPrefix(r.URL.Path, "/upload/") && r.URL.Query().Get("upload_id") != "" && p.breakThisChunk(r):
		io.Copy(io.Discard, r.Body)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			panic(err)
		}
		conn.Write([]byte("HTTP/1.1 ??? broken by the test proxy\r\n\r\n"))
		conn.Close()
		return
	case strings.HasPrefix(r.URL.Path, "/upload/"):
		p.mu.Lock()
		p.uploads++
		status, fail := p.failUploads[p.uploads]
		if fail {
			p.failed++
		}
		p.mu.Unlock()
		if fail {
			io.Copy(io.Discard, r.Body)
			writeGCSError(w, status)
			return
		}
		p.maybeCorrupt(r)
		p.serveMaybeTampered(w, r)
		return
	case strings.HasSuffix(r.URL.Path, "/compose"):
		p.mu.Lock()
		p.composes++
		p.mu.Unlock()
		p.serveMaybeTampered(w, r)
		return
	case r.Method == http.MethodDelete && strings.Contains(r.URL.Path, "/o/"):
		p.mu.Lock()
		hook := p.beforeDelete
		p.mu.Unlock()
		if hook != nil {
			_, name, _ := strings.Cut(r.URL.Path, "/o/")
			hook(name)
		}
	}
	p.next.ServeHTTP(w, r)
}

// creation is an object a request created: its name and CRC32C, and the
// CRC32C the request declared for GCS to check ("" if none).
type creation struct {
	name, crc32c, declared string
}

// maybeCorrupt flips one byte in the middle of an upload's body, while
// corruptUploads says so. The middle of a multipart upload of more than a
// few KiB is in its media, past the JSON resource.
func (p *gcsProxy) maybeCorrupt(r *http.Request) {
	q := r.URL.Query()
	if q.Get("uploadType") != "multipart" && q.Get("upload_id") == "" {
		return // starts a resumable upload: no bytes of the file
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.corrupted >= p.corruptUploads || r.ContentLength == 0 {
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil || len(body) == 0 {
		r.Body = io.NopCloser(bytes.NewReader(body))
		return
	}
	body[len(body)/2] ^= 0xFF
	p.corrupted++
	r.Body = io.NopCloser(bytes.NewReader(body))
}

// declaredCRC32C is the CRC32C a request that may create an object
// declares for GCS to check: in a multipart upload's resource, in the
// X-Goog-Hash of a resumable upload's final chunk, in a compose's
// destination. It reads and restores r's body.
func declaredCRC32C(r *http.Request) string {
	q := r.URL.Query()
	if q.Get("upload_id") != "" {
		for _, v := range r.Header.Values("X-Goog-Hash") {
			for _, kv := range strings.Split(v, ",") {
				if crc, ok := strings.CutPrefix(strings.TrimSpace(kv), "crc32c="); ok {
					return crc
				}
			}
		}
		return ""
	}
	multipartUpload := q.Get("uploadType") == "multipart"
	if !multipartUpload && !strings.HasSuffix(r.URL.Path, "/compose") {
		return ""
	}
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	resource := body
	if multipartUpload {
		_, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		part, err := multipart.NewReader(bytes.NewReader(body), params["boundary"]).NextPart()
		if err != nil {
			return ""
		}
		resource, _ = io.ReadAll(part)
	}
	var res struct {
		CRC32C      string `json:"crc32c"`
		Destination struct {
			CRC32C string `json:"crc32c"`
		} `json:"destination"`
	}
	json.Unmarshal(resource, &res)
	return res.CRC32C + res.Destination.CRC32C
}

// creations returns what was created under name.
func (p *gcsProxy) creations(name string) []creation {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []creation
	for _, c := range p.created {
		if c.name == name {
			out = append(out, c)
		}
	}
	return out
}

func (p *gcsProxy) breakThisChunk(r *http.Request) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.chunks++
	if p.chunks != p.breakChunk {
		return false
	}
	p.brokenSessions = append(p.brokenSessions, r.URL.Query().Get("upload_id"))
	return true
}

// serveMaybeTampered records the object an upload or compose created, and
// falsifies the crc32c GCS reports for it while tamperCRC says so.
func (p *gcsProxy) serveMaybeTampered(w http.ResponseWriter, r *http.Request) {
	declared := declaredCRC32C(r)
	rec := httptest.NewRecorder()
	p.next.ServeHTTP(rec, r)
	body := rec.Body.Bytes()
	q := r.URL.Query()
	initiation := q.Get("uploadType") == "resumable" && q.Get("upload_id") == ""
	final := rec.Code == http.StatusOK && rec.Header().Get("X-Http-Status-Code-Override") != "308" && !initiation
	var obj map[string]any
	if final && json.Unmarshal(body, &obj) == nil && obj["crc32c"] != nil {
		p.mu.Lock()
		name, _ := obj["name"].(string)
		crc, _ := obj["crc32c"].(string)
		p.created = append(p.created, creation{name: name, crc32c: crc, declared: declared})
		tamper := p.tamperCRC > p.tampered && !strings.HasSuffix(r.URL.Path, "/compose")
		if tamper {
			p.tampered++
		}
		p.mu.Unlock()
		if tamper {
			obj["crc32c"] = "AAAAAA=="
			body, _ = json.Marshal(obj)
		}
	}
	for k, v := range rec.Header() {
		if k != "Content-Length" {
			w.Header()[k] = v
		}
	}
	w.WriteHeader(rec.Code)
	w.Write(body)
}

func (p *gcsProxy) log() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.requests...)
}

func (p *gcsProxy) counts() (uploads, failed, tampered int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.uploads, p.failed, p.tampered
}

func writeGCSError(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":{"code":%d,"message":"injected by the test proxy"}}`, status)
}
