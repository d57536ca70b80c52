//go:build !production

package commands

import "github.com/wochit-ingest/wochit-ingest/internal/config"

// devCommands are the commands for a laptop and for tests. The production
// build (-tags production, prodcommands.go) has none of them, so it links
// neither the Temporal server nor the GCS emulator; CI checks that.
func devCommands() []command {
	return []command{
		{"dev", "run everything in one process: Temporal + Web UI, GCS emulator, worker, ingress", runDev, config.Declare(registerDev)},
		{"send", "post a notification to an ingress (--demo for sample media, --wait to follow it)", runSend, config.Declare(registerSend)},
		{"demo-server", "serve the demo media and a verifying callback receiver on their own", runDemoServer, config.Declare(registerDemo)},
	}
}

// leftOut is false: this build has every command (prodcommands.go's leaves
// the development ones out).
func leftOut(string) bool { return false }
