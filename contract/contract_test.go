package contract_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"
)

// The JSON a customer's backend receives is public interface: field names
// and the event type strings must not drift.
func TestEventJSON(t *testing.T) {
	n := contract.Notification{WochitVideoID: "v1", VideoContext: "ctx", Title: "T", VideoURL: "https://o/v.mp4", ThumbnailURL: "https://o/t.png"}
	at := time.Date(2026, 12, 2, 12, 0, 0, 0, time.FixedZone("X", 3600))
	obj := contract.StoredObject{Bucket: "b", Name: "videos/v1/video.mp4", URI: "gs://b/videos/v1/video.mp4", Size: 3, ContentType: "video/mp4", CRC32C: "AAAAAA=="}
	for _, tt := range []struct {
		ev   contract.Event
		want string
	}{
		{contract.StoredEvent(n, "wochit-video-v1", at, obj, obj),
			`{"type":"video.stored","timestamp":"2026-12-02T11:00:00Z","data":{"wochitVideoId":"v1","videoContext":"ctx","title":"T","workflowId":"wochit-video-v1",` +
				`"video":{"bucket":"b","name":"videos/v1/video.mp4","uri":"gs://b/videos/v1/video.mp4","size":3,"contentType":"video/mp4","crc32c":"AAAAAA=="},` +
				`"thumbnail":{"bucket":"b","name":"videos/v1/video.mp4","uri":"gs://b/videos/v1/video.mp4","size":3,"contentType":"video/mp4","crc32c":"AAAAAA=="}}}`},
		{contract.FailedEvent(n, "wochit-video-v1", at, contract.LinkExpired, "gone"),
			`{"type":"video.failed","timestamp":"2026-12-02T11:00:00Z","data":{"wochitVideoId":"v1","videoContext":"ctx","title":"T","workflowId":"wochit-video-v1","reason":"LinkExpired","message":"gone"}}`},
	} {
		got, err := json.Marshal(tt.ev)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.ev.Type, got, tt.want)
		}
	}
	var back contract.Notification
	if err := json.Unmarshal([]byte(`{"wochitVideoId":"v1","videoContext":"ctx","title":"T","videoUrl":"https://o/v.mp4","thumbnailUrl":"https://o/t.png"}`), &back); err != nil || back != n {
		t.Fatalf("notification JSON = %+v, %v; want %+v", back, err, n)
	}
}

func TestNames(t *testing.T) {
	got := contract.Names(contract.OriginNotFound, contract.CallbackGone)
	if len(got) != 2 || got[0] != "OriginNotFound" || got[1] != "CallbackGone" {
		t.Fatalf("Names = %q", got)
	}
}
