package activities

import (
	"context"

	"github.com/wochit-ingest/wochit-ingest/transfer"
)

// DestinationInput names the video whose destination is asked for.
type DestinationInput struct {
	WochitVideoID string
}

// Destination is where a video's files go: gs://Bucket/Dir<kind><.ext>.
type Destination struct {
	Bucket string
	Dir    string
}

// URI is the gs:// URI of the video's "folder".
func (d Destination) URI() string { return "gs://" + d.Bucket + "/" + d.Dir }

// Destination reports where this worker stores a video's files; the
// workflow runs it as a local activity so operators see the destination
// (in activity summaries and the status query) before any byte moves.
func (a *Activities) Destination(_ context.Context, in DestinationInput) (Destination, error) {
	return Destination{Bucket: a.Bucket, Dir: transfer.ObjectDir(a.Prefix, in.WochitVideoID)}, nil
}
