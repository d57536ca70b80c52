package activities_test

import (
	"context"
	"strings"
	"testing"

	"cloud.google.com/go/storage"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"github.com/wochit-ingest/wochit-ingest/activities"
	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
)

// A token in the media URL's path (here nginx secure_link's) reaches
// neither the object's metadata nor a failure message; the object is still
// named from the URL's extension, and the next attempt recognises it by the
// same redacted source. An object stored before path tokens were redacted
// (its sourceUrl holds the path whole) is reused as well, not a conflict.
func TestTransferRedactsTokensInThePath(t *testing.T) {
	f := newFixture(t)
	const token = "Xcp1AwQ6Ci9oMkQMwJjz_g,2147483647"
	path := "/s/" + token + "/clip.mp4"
	f.origin.Put(path, mediaorigin.File{Body: mediaorigin.Video("pathtoken", 300<<10), ContentType: "video/mp4"})
	in := activities.TransferInput{Kind: contract.KindVideo, SourceURL: f.originURL + path + "?sig=1", WochitVideoID: "pathtok"}

	res, err := f.transfer(in)
	if err != nil {
		t.Fatal(err)
	}
	if res.Object.Name != "videos/pathtok/video.mp4" {
		t.Fatalf("object %s, want videos/pathtok/video.mp4 (the extension of the URL's path)", res.Object.Name)
	}
	meta := f.attrs(res.Object.Name).Metadata
	if want := f.originURL + "/s/REDACTED/clip.mp4"; meta["sourceUrl"] != want {
		t.Errorf("sourceUrl = %q, want %q", meta["sourceUrl"], want)
	}
	for k, v := range meta {
		if strings.Contains(v, "Xcp1AwQ6") {
			t.Errorf("metadata %s leaks the path token: %q", k, v)
		}
	}
	if again, err := f.transfer(in); err != nil || !again.Reused {
		t.Fatalf("second attempt: %+v, %v; want the object reused", again, err)
	}

	// As the previous version recorded it.
	obj := f.gcs.Bucket(testBucket).Object(res.Object.Name)
	meta["sourceUrl"] = f.originURL + path
	if _, err := obj.Update(context.Background(), storage.ObjectAttrsToUpdate{Metadata: meta}); err != nil {
		t.Fatal(err)
	}
	requests := f.origin.Stats(path).Requests
	if again, err := f.transfer(in); err != nil || !again.Reused {
		t.Fatalf("attempt after an upgrade: %+v, %v; want the object reused", again, err)
	}
	if n := f.origin.Stats(path).Requests; n != requests {
		t.Errorf("the origin was asked %d more times; the stored object should have been reused", n-requests)
	}

	// A failure quotes the URL redacted.
	_, err = f.transfer(activities.TransferInput{Kind: contract.KindVideo, SourceURL: f.originURL + "/s/" + token + "/missing.mp4", WochitVideoID: "pathtok-404"})
	if errType, _ := failure(t, err); errType != contract.OriginNotFound {
		t.Fatalf("error = %v, want %s", err, contract.OriginNotFound)
	}
	if strings.Contains(err.Error(), "Xcp1AwQ6") || !strings.Contains(err.Error(), "/s/REDACTED/missing.mp4") {
		t.Errorf("failure message %q: want the URL with its path token redacted", err)
	}
}
