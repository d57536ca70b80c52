//go:build production

package commands

// devCommands are none in the production build: dev, send and demo-server
// (devcommands.go) would link the Temporal server and the GCS emulator.
func devCommands() []command { return nil }
