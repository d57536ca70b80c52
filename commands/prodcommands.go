//go:build production

package commands

import "slices"

// devCommands are none in the production build: dev, send and demo-server
// (devcommands.go) would link the Temporal server and the GCS emulator.
func devCommands() []command { return nil }

// leftOut tells the development commands this build leaves out, so asking
// for one says why instead of "unknown command".
func leftOut(name string) bool { return slices.Contains([]string{"dev", "send", "demo-server"}, name) }
