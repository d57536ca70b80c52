package main

import (
	"fmt"
	"regexp"
	"strings"
)

// composeImages checks docker-compose.yml's images against go.mod: every
// image is pinned to a version tag, and the images built from a Go module
// this repository also links run the release go.mod names — a tag of that
// module on the module proxy, from which each project's release workflow
// publishes the image with the same version (without the "v"):
// temporalio/server and temporalio/admin-tools from go.temporal.io/server
// (docker/docker-bake.hcl, promote-*-image.yml), temporalio/ui from
// github.com/temporalio/ui-server/v2 (on-release.yaml), and
// fsouza/fake-gcs-server from github.com/fsouza/fake-gcs-server
// (docker-push.yml, type=semver). So `dev` and the compose stack run the
// same Temporal, UI and emulator, and bumping go.mod flags the compose file.
func composeImages(compose, gomod string) []string {
	images := map[string]string{
		"temporalio/server":      "go.temporal.io/server",
		"temporalio/admin-tools": "go.temporal.io/server",
		"temporalio/ui":          "github.com/temporalio/ui-server/v2",
		"fsouza/fake-gcs-server": "github.com/fsouza/fake-gcs-server",
	}
	var problems []string
	found := 0
	for _, m := range regexp.MustCompile(`(?m)^\s*image:\s*["']?([^\s"'#]+)`).FindAllStringSubmatch(compose, -1) {
		ref := m[1]
		name, tag, ok := strings.Cut(ref, ":")
		if strings.HasPrefix(name, "wochit-ingest") {
			continue // built here
		}
		found++
		if !ok || tag == "" || tag == "latest" {
			problems = append(problems, fmt.Sprintf("docker-compose.yml: image %s is not pinned to a version", ref))
			continue
		}
		module, linked := images[name]
		if !linked {
			continue
		}
		want := moduleVersion(gomod, module)
		if want == "" {
			problems = append(problems, fmt.Sprintf("go.mod does not require %s, the source of %s", module, name))
			continue
		}
		if tag != strings.TrimPrefix(want, "v") {
			problems = append(problems, fmt.Sprintf("docker-compose.yml: %s is %s, but go.mod's %s is %s: run the same release (tag %s)", name, tag, module, want, strings.TrimPrefix(want, "v")))
		}
	}
	if found == 0 {
		problems = append(problems, "docker-compose.yml: no images found")
	}
	return problems
}

func moduleVersion(gomod, module string) string {
	m := regexp.MustCompile(`(?m)^\s*(?:require\s+)?` + regexp.QuoteMeta(module) + `\s+(v\S+)`).FindStringSubmatch(gomod)
	if m == nil {
		return ""
	}
	return m[1]
}
