//go:build topology

package topology

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// The field limits README documents for a notification.
const (
	maxVideoIDLen      = 128
	maxTitleLen        = 1024
	maxVideoContextLen = 2048
	maxURLLen          = 8192
)

// notification is one video as Wochit announces it, with the media the
// origin serves for it and what the ingresses answered.
type notification struct {
	VideoContext  string `json:"videoContext"`
	WochitVideoID string `json:"wochitVideoId"`
	ThumbnailURL  string `json:"thumbnailUrl"`
	VideoURL      string `json:"videoUrl"`
	Title         string `json:"title"`

	video, thumbnail     []byte
	videoPath, thumbPath string
	widest               bool

	// Set by deliver.
	mu          sync.Mutex
	attempts    []attempt
	acceptedAt  time.Time
	workflowID  string
	acceptedVia int // which ingress promised it
}

// attempt is one POST and its answer (0 when no answer came).
type attempt struct {
	Ingress        int
	Sent, Answered time.Time
	Status         int
	Queued         bool // 202 {"queued": true}: in the inbox, no run yet
}

func (n *notification) accepted() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return !n.acceptedAt.IsZero()
}

func (n *notification) history() []attempt {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]attempt(nil), n.attempts...)
}

// mediaSpec says what the origin serves for a notification.
type mediaSpec struct {
	videoSize      int
	bytesPerSecond int64 // per request; 0: unthrottled
	noRanges       bool  // the origin ignores ranges: one stream, nothing to resume
	query          func(path string) string
}

// newNotification builds a notification for id whose media the origin
// serves: a generated MP4 (ranged, like GCS and CDNs) and a PNG.
func (tp *topology) newNotification(id, videoContext, title string, m mediaSpec) *notification {
	n := &notification{
		WochitVideoID: id, VideoContext: videoContext, Title: title,
		video: generatedVideo(id, m.videoSize), thumbnail: generatedThumbnail(id),
		videoPath: "/media/" + id + "/video.mp4", thumbPath: "/media/" + id + "/thumbnail.png",
	}
	tp.origin.Put(n.videoPath, n.video, "video/mp4", m.bytesPerSecond, m.noRanges)
	tp.origin.Put(n.thumbPath, n.thumbnail, "image/png", 0, false)
	q := func(string) string { return "" }
	if m.query != nil {
		q = m.query
	}
	n.VideoURL = tp.originURL + n.videoPath + q(tp.originURL+n.videoPath)
	n.ThumbnailURL = tp.originURL + n.thumbPath + q(tp.originURL+n.thumbPath)
	tp.mu.Lock()
	tp.all = append(tp.all, n)
	tp.mu.Unlock()
	return n
}

// widestNotifications are the widest notifications README says are
// ingested like any other: every field at its length limit, in 4-byte
// emoji, in characters JSON escapes to six bytes, and in control characters
// (NUL included). PostgreSQL's visibility store keeps Keyword search
// attributes in VARCHAR(255) and refuses NUL in JSON; SQLite checks neither.
func (tp *topology) widestNotifications(tag string) []*notification {
	var out []*notification
	pad := func(u string) string { // the query of a signed URL, to exactly maxURLLen
		q := "?token="
		for len(u)+len(q)+3 <= maxURLLen {
			q += "%3C"
		}
		return q + strings.Repeat("a", maxURLLen-len(u)-len(q))
	}
	for _, c := range []struct{ name, unit string }{
		{"emoji", "😀"}, {"escaped", "<&\u2028>"}, {"control", "\x00\x01\t\n\x7f"},
	} {
		runes := utf8.RuneCountInString(c.unit)
		suffix := "-" + tag + "-" + c.name
		id := strings.Repeat("Az09-_", maxVideoIDLen)[:maxVideoIDLen-len(suffix)] + suffix
		videoContext := strings.Repeat(c.unit, maxVideoContextLen/runes) + strings.Repeat("x", maxVideoContextLen%runes)
		title := strings.Repeat(c.unit, maxTitleLen/runes) + strings.Repeat("x", maxTitleLen%runes)
		n := tp.newNotification(id, videoContext, title, mediaSpec{videoSize: 64 << 10, query: pad})
		n.widest = true
		out = append(out, n)
	}
	return out
}

var senderClient = &http.Client{Timeout: 30 * time.Second}

// deliver posts n the way Wochit would, starting with ingress first: a 503
// (Temporal could not make it durable) or no answer at all is retried,
// after Retry-After and on the other ingress as a load balancer would; a
// 2xx is a promise and ends it; any other answer fails the test.
func (tp *topology) deliver(t *testing.T, n *notification, first int, within time.Duration) {
	body, err := json.Marshal(n)
	if err != nil {
		t.Error(err)
		return
	}
	deadline := time.Now().Add(within)
	for i := first; ; i++ {
		ing := i % len(tp.ingressURLs)
		a := attempt{Ingress: ing, Sent: time.Now()}
		resp, err := senderClient.Post(tp.ingressURLs[ing]+"/webhooks/wochit", "application/json", bytes.NewReader(body))
		var answer struct {
			WorkflowID string `json:"workflowId"`
			Queued     bool   `json:"queued"`
			Error      string `json:"error"`
		}
		wait := 200 * time.Millisecond
		if err == nil {
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			a.Status = resp.StatusCode
			_ = json.Unmarshal(raw, &answer)
			a.Queued = answer.Queued
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
				wait = min(time.Duration(s)*time.Second, 5*time.Second)
			}
		}
		a.Answered = time.Now()
		n.mu.Lock()
		n.attempts = append(n.attempts, a)
		if a.Status/100 == 2 {
			n.acceptedAt, n.workflowID, n.acceptedVia = a.Answered, answer.WorkflowID, ing
		}
		n.mu.Unlock()
		switch {
		case a.Status/100 == 2:
			if want := "wochit-video-" + n.WochitVideoID; answer.WorkflowID != want {
				t.Errorf("%s: answered %d with workflow id %q, want %q", short(n.WochitVideoID), a.Status, answer.WorkflowID, want)
			}
			return
		case a.Status == http.StatusServiceUnavailable || a.Status == 0:
		default:
			t.Errorf("%s: ingress %d answered %d %q; only 2xx and 503 are expected", short(n.WochitVideoID), ing+1, a.Status, answer.Error)
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: no 2xx within %s (%d attempts)", short(n.WochitVideoID), within, len(n.history()))
			return
		}
		time.Sleep(wait) // Wochit's back-off, not synchronisation
	}
}

// deliverAll delivers ns with the given number of concurrent senders,
// alternating the first ingress, and returns when each has an answer.
func (tp *topology) deliverAll(t *testing.T, ns []*notification, senders int, within time.Duration) {
	work := make(chan int)
	var wg sync.WaitGroup
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				tp.deliver(t, ns[i], i, within)
			}
		}()
	}
	for i := range ns {
		work <- i
	}
	close(work)
	wg.Wait()
}

// short names a video in messages; the widest ids are 128 characters.
func short(id string) string {
	if len(id) > 40 {
		return id[:12] + "…" + id[len(id)-20:]
	}
	return id
}

func ids(ns []*notification) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.WochitVideoID
	}
	return out
}

func fmtDur(d time.Duration) string { return fmt.Sprintf("%.1fs", d.Seconds()) }
