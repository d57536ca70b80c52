// Package contract owns the wire contracts of wochit-ingest: the notification
// Wochit POSTs, the events the customer's backend receives, the objects they
// describe, and the names of every way an ingest can fail. These are public
// interface (README documents them); the ingress, the workflow and the
// activities all speak them, and this package imports nothing of theirs.
package contract

import "time"

// Notification is the JSON body Wochit POSTs when a video was produced.
type Notification struct {
	VideoContext  string `json:"videoContext"`
	WochitVideoID string `json:"wochitVideoId"`
	ThumbnailURL  string `json:"thumbnailUrl"`
	VideoURL      string `json:"videoUrl"`
	Title         string `json:"title"`
}

// AssetKind names the two files of a Wochit video.
type AssetKind string

const (
	KindVideo     AssetKind = "video"
	KindThumbnail AssetKind = "thumbnail"
)

// StoredObject describes an object in GCS, as the callback reports it.
// CRC32C and MD5 are base64 of the big-endian checksum bytes, exactly as GCS
// shows them in object metadata (and gsutil hash prints them).
type StoredObject struct {
	Bucket      string `json:"bucket"`
	Name        string `json:"name"`
	URI         string `json:"uri"`
	Size        int64  `json:"size"`
	ContentType string `json:"contentType"`
	CRC32C      string `json:"crc32c"`
	MD5         string `json:"md5,omitempty"`
	// Media is what a player needs to know about a video, read from its
	// MP4/MOV metadata; absent for other formats, fields it lacks omitted.
	Media *Media `json:"media,omitempty"`
}

// Media describes a stored video. FastStart (the moov before the media
// data, so playback starts before the download ends) is reported for every
// ISO-BMFF file, false included.
type Media struct {
	DurationMillis int64  `json:"durationMs,omitempty"`
	Width          int    `json:"width,omitempty"`
	Height         int    `json:"height,omitempty"`
	Codec          string `json:"codec,omitempty"`
	FastStart      *bool  `json:"fastStart,omitempty"`
}

// EventType is the `type` of a callback event.
type EventType string

const (
	VideoStored EventType = "video.stored"
	VideoFailed EventType = "video.failed"
)

// Event is the JSON body of a callback.
type Event struct {
	Type      EventType `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      EventData `json:"data"`
}

// EventData carries either the two stored objects (video.stored) or the
// reason the ingest failed (video.failed), with the notification's fields.
type EventData struct {
	WochitVideoID string        `json:"wochitVideoId"`
	VideoContext  string        `json:"videoContext"`
	Title         string        `json:"title"`
	WorkflowID    string        `json:"workflowId"`
	Video         *StoredObject `json:"video,omitempty"`
	Thumbnail     *StoredObject `json:"thumbnail,omitempty"`
	Reason        Reason        `json:"reason,omitempty"`
	Message       string        `json:"message,omitempty"`
}

// StoredEvent is the video.stored event for a notification.
func StoredEvent(n Notification, workflowID string, at time.Time, video, thumbnail StoredObject) Event {
	return Event{Type: VideoStored, Timestamp: at.UTC(), Data: EventData{
		WochitVideoID: n.WochitVideoID, VideoContext: n.VideoContext, Title: n.Title, WorkflowID: workflowID,
		Video: &video, Thumbnail: &thumbnail,
	}}
}

// FailedEvent is the video.failed event for a notification.
func FailedEvent(n Notification, workflowID string, at time.Time, reason Reason, message string) Event {
	return Event{Type: VideoFailed, Timestamp: at.UTC(), Data: EventData{
		WochitVideoID: n.WochitVideoID, VideoContext: n.VideoContext, Title: n.Title, WorkflowID: workflowID,
		Reason: reason, Message: message,
	}}
}
