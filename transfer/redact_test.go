package transfer_test

import (
	"context"
	"strings"
	"testing"

	"cloud.google.com/go/storage"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
)

// A token in the media URL's path (here nginx secure_link's) reaches
// neither the object's metadata nor a failure message; the object is still
// named from the URL's extension, and the next attempt recognises it by the
// same redacted source. An object stored before path tokens were redacted
// (its sourceUrl holds the path whole) is reused as well, not a conflict.
func TestTransferRedactsTokensInThePath(t *testing.T) {
	e := newEnv(t)
	const token = "Xcp1AwQ6Ci9oMkQMwJjz_g,2147483647"
	path := "/s/" + token + "/clip.mp4"
	e.origin.Put(path, mediaorigin.File{Body: mediaorigin.Video("pathtoken", 300<<10), ContentType: "video/mp4"})
	in := input{kind: contract.KindVideo, url: e.originURL + path + "?sig=1", id: "pathtok"}

	res, err := e.copyFile(in)
	if err != nil {
		t.Fatal(err)
	}
	if res.Object.Name != "videos/pathtok/video.mp4" {
		t.Fatalf("object %s, want videos/pathtok/video.mp4 (the extension of the URL's path)", res.Object.Name)
	}
	meta := e.objectAttrs(t, res.Object.Name).Metadata
	if want := e.originURL + "/s/REDACTED/clip.mp4"; meta["sourceUrl"] != want {
		t.Errorf("sourceUrl = %q, want %q", meta["sourceUrl"], want)
	}
	for k, v := range meta {
		if strings.Contains(v, "Xcp1AwQ6") {
			t.Errorf("metadata %s leaks the path token: %q", k, v)
		}
	}
	if again, err := e.copyFile(in); err != nil || !again.Reused {
		t.Fatalf("second attempt: %+v, %v; want the object reused", again, err)
	}

	// As the previous version recorded it.
	obj := e.bucket.Object(res.Object.Name)
	meta["sourceUrl"] = e.originURL + path
	if _, err := obj.Update(context.Background(), storage.ObjectAttrsToUpdate{Metadata: meta}); err != nil {
		t.Fatal(err)
	}
	requests := e.origin.Stats(path).Requests
	if again, err := e.copyFile(in); err != nil || !again.Reused {
		t.Fatalf("attempt after an upgrade: %+v, %v; want the object reused", again, err)
	}
	if n := e.origin.Stats(path).Requests; n != requests {
		t.Errorf("the origin was asked %d more times; the stored object should have been reused", n-requests)
	}

	// A failure quotes the URL redacted.
	_, err = e.copyFile(input{kind: contract.KindVideo, url: e.originURL + "/s/" + token + "/missing.mp4", id: "pathtok-404"})
	if errType, _ := reasonOf(t, err); errType != contract.OriginNotFound {
		t.Fatalf("error = %v, want %s", err, contract.OriginNotFound)
	}
	if strings.Contains(err.Error(), "Xcp1AwQ6") || !strings.Contains(err.Error(), "/s/REDACTED/missing.mp4") {
		t.Errorf("failure message %q: want the URL with its path token redacted", err)
	}
}
