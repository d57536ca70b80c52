package devstack

import (
	"net/http"

	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
)

// DemoMedia returns an origin serving the demo video and thumbnail. The video
// is served at a modest rate so `send --demo --wait` has progress to show
// and there is time to try stopping a worker mid-transfer.
func DemoMedia() *mediaorigin.Origin {
	media := mediaorigin.New()
	media.Put(DemoVideoPath, mediaorigin.File{
		Body: mediaorigin.Video("wochit-ingest demo", demoVideoSize), ContentType: "video/mp4", BytesPerSecond: demoBytesPerSecond,
	})
	media.Put(DemoThumbnailPath, mediaorigin.File{Body: mediaorigin.Thumbnail("wochit-ingest demo", 320, 180), ContentType: "image/png"})
	return media
}

// CodecPath is where dev serves its codec server (POST …/encode, …/decode).
const CodecPath = "/codec"

// DemoHandler serves media under /media/, the callback receiver at
// /callbacks (POST to deliver, GET to list what arrived) and, when codec is
// not nil, the codec server under /codec/.
func DemoHandler(media *mediaorigin.Origin, receiver *Receiver, codec http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/media/", media)
	mux.Handle("/callbacks", receiver)
	if codec != nil {
		mux.Handle(CodecPath+"/", codec)
	}
	return mux
}
