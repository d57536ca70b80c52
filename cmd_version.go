package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
)

// version is set at build time: go build -ldflags "-X main.version=v1.2.3".
var version = "devel"

func runVersion(_ context.Context, args, _ []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("wochit-ingest version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	deps := map[string]string{}
	goVersion := "unknown"
	if info, ok := debug.ReadBuildInfo(); ok {
		goVersion = info.GoVersion
		for _, d := range info.Deps {
			deps[d.Path] = d.Version
		}
	}
	fmt.Fprintf(stdout, "wochit-ingest %s (%s, Temporal SDK %s, storage %s)\n",
		version, goVersion, orUnknown(deps["go.temporal.io/sdk"]), orUnknown(deps["cloud.google.com/go/storage"]))
	return nil
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
