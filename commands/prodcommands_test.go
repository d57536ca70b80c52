//go:build production

package commands

import (
	"context"
	"strings"
	"testing"
)

// The production build refuses the development commands by name, saying
// why, and still lists only its own. Run with -tags production (.ci/run).
//
// Mutation: leftOut returning false fails it with "unknown command".
func TestProductionRefusesDevCommands(t *testing.T) {
	for _, name := range []string{"dev", "send", "demo-server"} {
		_, stderr, err := runCmd(t, context.Background(), nil, name)
		if err == nil || !strings.Contains(err.Error(), "left out of this production build") {
			t.Errorf("%s in the production build: %v, want it refused as left out of the production build", name, err)
		}
		if strings.Contains(stderr, "\n  "+name+" ") {
			t.Errorf("the production build's usage lists %s:\n%s", name, stderr)
		}
	}
}
