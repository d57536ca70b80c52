package main

import (
	"io"

	"go.temporal.io/sdk/client"
)

// setupConfig configures `wochit-ingest setup`.
type setupConfig struct {
	logConfig
	Temporal client.Options
}

func loadSetup(args, environ []string, output io.Writer) (setupConfig, error) {
	return load("setup", args, environ, output, registerSetup)
}

func registerSetup(l *loader, c *setupConfig) (finish func()) {
	finishLog := l.logSettings(&c.logConfig)
	finishTemporal := l.temporalSettings(&c.Temporal, defaultTemporalAddr, defaultTemporalNamespace)
	return func() { finishLog(); finishTemporal() }
}
