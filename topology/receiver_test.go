//go:build topology

package topology

import (
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"time"
)

// event is the callback body as README documents it, decoded here rather
// than with the product's own types, so the test reads what a customer
// reads.
type event struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      struct {
		WochitVideoID string        `json:"wochitVideoId"`
		VideoContext  string        `json:"videoContext"`
		Title         string        `json:"title"`
		WorkflowID    string        `json:"workflowId"`
		Video         *storedObject `json:"video"`
		Thumbnail     *storedObject `json:"thumbnail"`
		Reason        string        `json:"reason"`
		Message       string        `json:"message"`
	} `json:"data"`
}

type storedObject struct {
	Bucket      string `json:"bucket"`
	Name        string `json:"name"`
	URI         string `json:"uri"`
	Size        int64  `json:"size"`
	ContentType string `json:"contentType"`
	CRC32C      string `json:"crc32c"`
	MD5         string `json:"md5"`
}

type delivery struct {
	WebhookID string
	At        time.Time
	Event     event
}

// receiver is the customer's backend: it verifies every delivery's
// signature and timestamp as Standard Webhooks prescribes, answers 204, and
// keeps every delivery (duplicates included) by video.
type receiver struct {
	secret webhookSecret

	mu       sync.Mutex
	byVideo  map[string][]delivery
	total    int
	rejected []string // why deliveries were refused
}

func newReceiver(secret webhookSecret) *receiver {
	return &receiver{secret: secret, byVideo: map[string][]delivery{}}
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		http.Error(w, "unreadable body", http.StatusBadRequest)
		return
	}
	if err := verifyWebhook(req.Header, body, r.secret); err != nil {
		r.reject("signature: " + err.Error())
		http.Error(w, "invalid signature", http.StatusUnauthorized)
		return
	}
	var ev event
	if err := json.Unmarshal(body, &ev); err != nil {
		r.reject("body: " + err.Error())
		http.Error(w, "not an event", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.byVideo[ev.Data.WochitVideoID] = append(r.byVideo[ev.Data.WochitVideoID], delivery{WebhookID: req.Header.Get(webhookIDHeader), At: time.Now(), Event: ev})
	r.total++
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) reject(why string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rejected = append(r.rejected, why)
}

// deliveries returns what arrived for one video, oldest first.
func (r *receiver) deliveries(videoID string) []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.byVideo[videoID]...)
}

// storedCount counts the videos among ids that have had a video.stored.
func (r *receiver) storedCount(ids []string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, id := range ids {
		for _, d := range r.byVideo[id] {
			if d.Event.Type == "video.stored" {
				n++
				break
			}
		}
	}
	return n
}

func (r *receiver) stats() (total int, rejected []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total, append([]string(nil), r.rejected...)
}
