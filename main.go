// Command wochit-ingest takes ownership of videos produced in the Wochit
// editor: it accepts Wochit's notification, copies the video and thumbnail
// into Google Cloud Storage through a durable Temporal workflow, and tells the
// customer's backend where they are with a signed callback.
//
//	wochit-ingest dev       everything in one process, for a laptop
//	wochit-ingest ingress   the HTTP front door (production)
//	wochit-ingest worker    the Temporal worker (production)
//	wochit-ingest send      post a notification to an ingress
//	wochit-ingest setup     register the search attributes in a namespace
//	wochit-ingest demo-server  demo media and a verifying callback receiver
//	wochit-ingest redeliver send a video's callback again
//	wochit-ingest version   print the version
//
// dev, send and demo-server embed the Temporal server, its Web UI and a GCS
// emulator; `go build -tags production` leaves them (and those modules) out
// of the binary platform teams deploy. The commands live in package
// commands, one file each.
package main

import (
	"os"

	"github.com/wochit-ingest/wochit-ingest/commands"
)

// version may be set at build time (go build -ldflags "-X main.version=v1.2.3");
// otherwise it comes from the build information: the module version `go
// install …@v1.2.3` records, or the VCS revision of a checkout build.
var version = ""

func main() {
	os.Exit(commands.Main(os.Args[1:], version))
}
