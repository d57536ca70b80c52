//go:build !production

package main

// The commands for a laptop and for tests. The production build (-tags
// production) has none of them, so it links neither the Temporal server nor
// the GCS emulator; CI checks that.
func init() {
	dev := []command{
		{"dev", "run everything in one process: Temporal + Web UI, GCS emulator, worker, ingress", runDev, declare(registerDev)},
		{"send", "post a notification to an ingress (--demo for sample media, --wait to follow it)", runSend, declare(registerSend)},
		{"demo-server", "serve the demo media and a verifying callback receiver on their own", runDemoServer, declare(registerDemo)},
	}
	commands = append(dev, commands...)
}
