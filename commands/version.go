package commands

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
)

// linkedVersion is the version set at build time (go build -ldflags "-X
// main.version=v1.2.3"), which main passes to Main; without it the version
// comes from the build information: the module version `go install
// …@v1.2.3` records, or the VCS revision of a checkout build.
var linkedVersion = ""

func runVersion(_ context.Context, args, _ []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("wochit-ingest version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	info, _ := debug.ReadBuildInfo()
	fmt.Fprintln(stdout, versionLine(linkedVersion, info))
	return nil
}

// versionLine describes the build: its version, then Go's and the two
// libraries that matter most when reporting a problem.
func versionLine(ldflagVersion string, info *debug.BuildInfo) string {
	if info == nil {
		info = &debug.BuildInfo{}
	}
	deps := map[string]string{}
	for _, d := range info.Deps {
		deps[d.Path] = d.Version
	}
	return fmt.Sprintf("wochit-ingest %s (%s, Temporal SDK %s, storage %s)",
		buildVersion(ldflagVersion, info), orUnknown(info.GoVersion), orUnknown(deps["go.temporal.io/sdk"]), orUnknown(deps["cloud.google.com/go/storage"]))
}

// currentVersion is this binary's version, as `version` prints it.
func currentVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return cmp.Or(linkedVersion, "devel")
	}
	return buildVersion(linkedVersion, info)
}

// buildVersion is the ldflag version if set, else the module version (set
// by `go install …@version`), else the VCS revision and time of the build
// (`+dirty` when the tree had changes), else "devel".
func buildVersion(ldflagVersion string, info *debug.BuildInfo) string {
	if ldflagVersion != "" {
		return ldflagVersion
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	rev := settings["vcs.revision"]
	if rev == "" {
		return "devel"
	}
	v := "devel+" + rev[:min(12, len(rev))]
	if settings["vcs.modified"] == "true" {
		v += "+dirty"
	}
	if t := settings["vcs.time"]; t != "" {
		v += " " + t
	}
	return v
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
