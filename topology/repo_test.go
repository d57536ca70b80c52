//go:build topology

package topology

// This is the only file of the tier that imports the repository's own
// packages: test doubles the tier runs in its process (the GCS emulator, the
// media generator and origin, the Standard Webhooks verifier). Everything
// else talks to wochit-ingest as a customer would: its binary, its
// environment, HTTP and Temporal. When these packages move, this file's
// imports are all that changes.

import (
	"context"
	"net/http"
	"time"

	"cloud.google.com/go/storage"

	"github.com/wochit-ingest/wochit-ingest/devstack/gcsemu"
	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
	"github.com/wochit-ingest/wochit-ingest/internal/webhook"
)

// newGCSEmulator makes an emulator that keeps bucket's objects on disk
// under root and is reached at url, and a client of it.
func newGCSEmulator(root, url, bucket string) (h http.Handler, c *storage.Client, stop func(), err error) {
	emu, err := gcsemu.New(root, url, bucket)
	if err != nil {
		return nil, nil, nil, err
	}
	c, err = gcsemu.NewClient(context.Background(), url)
	if err != nil {
		emu.Stop()
		return nil, nil, nil, err
	}
	return emu.Handler(), c, func() { c.Close(); emu.Stop() }, nil
}

// mediaOrigin serves generated media by path, ranged like GCS and CDNs,
// optionally throttled per request.
type mediaOrigin struct{ o *mediaorigin.Origin }

func newMediaOrigin() mediaOrigin { return mediaOrigin{mediaorigin.New()} }

func (m mediaOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) { m.o.ServeHTTP(w, r) }

func (m mediaOrigin) put(path string, body []byte, contentType string, bytesPerSecond int64, noRanges bool) {
	m.o.Put(path, mediaorigin.File{Body: body, ContentType: contentType, BytesPerSecond: bytesPerSecond, NoRanges: noRanges})
}

// bytesSent is how many body bytes the origin wrote for path, all requests.
func (m mediaOrigin) bytesSent(path string) int64 { return m.o.Stats(path).BytesSent }

// generatedVideo is a valid MP4 of size bytes, different for each seed.
func generatedVideo(seed string, size int) []byte { return mediaorigin.Video(seed, size) }

// generatedThumbnail is a small PNG, different for each seed.
func generatedThumbnail(seed string) []byte { return mediaorigin.Thumbnail(seed, 24, 16) }

// webhookSecret is a Standard Webhooks signing secret (whsec_…).
type webhookSecret = webhook.Secret

func parseWebhookSecret(s string) (webhookSecret, error) { return webhook.ParseSecret(s) }

// verifyWebhook checks a delivery's signature and timestamp as Standard
// Webhooks prescribes.
func verifyWebhook(h http.Header, body []byte, secret webhookSecret) error {
	return webhook.Verify(h, body, time.Now(), webhook.DefaultTolerance, secret)
}

// webhookIDHeader carries a delivery's id, the same on every retry of it.
const webhookIDHeader = webhook.HeaderID
