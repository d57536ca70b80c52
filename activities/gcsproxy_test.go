package activities_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
)

// gcsProxy sits in front of the emulator. It injects faults into upload
// requests, and enforces compose preconditions as real GCS does (the
// emulator ignores them).
type gcsProxy struct {
	next        http.Handler
	mu          sync.Mutex
	uploads     int         // upload requests seen
	failUploads map[int]int // 1-based upload request number → status to answer
	failed      int         // faults injected
	tamperCRC   int         // upload responses whose crc32c to falsify
	tampered    int
	composes    int
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
		p.serveMaybeTampered(w, r)
		return
	case strings.HasSuffix(r.URL.Path, "/compose"):
		p.mu.Lock()
		p.composes++
		p.mu.Unlock()
		if r.URL.Query().Get("ifGenerationMatch") == "0" {
			probe := httptest.NewRequest(http.MethodGet, strings.TrimSuffix(r.URL.EscapedPath(), "/compose"), nil)
			rec := httptest.NewRecorder()
			p.next.ServeHTTP(rec, probe)
			if rec.Code == http.StatusOK {
				writeGCSError(w, http.StatusPreconditionFailed)
				return
			}
		}
	}
	p.next.ServeHTTP(w, r)
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

// serveMaybeTampered falsifies the crc32c GCS reports for a finalized
// object, while tamperCRC says so.
func (p *gcsProxy) serveMaybeTampered(w http.ResponseWriter, r *http.Request) {
	rec := httptest.NewRecorder()
	p.next.ServeHTTP(rec, r)
	body := rec.Body.Bytes()
	q := r.URL.Query()
	initiation := q.Get("uploadType") == "resumable" && q.Get("upload_id") == ""
	final := rec.Code == http.StatusOK && rec.Header().Get("X-Http-Status-Code-Override") != "308" && !initiation
	var obj map[string]any
	if final && json.Unmarshal(body, &obj) == nil && obj["crc32c"] != nil {
		p.mu.Lock()
		tamper := p.tamperCRC > p.tampered
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
