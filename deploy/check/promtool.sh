#!/usr/bin/env bash
# Runs the alert rules' unit tests with promtool, built from the Go module
# proxy at the Prometheus version deploy/check/go.mod pins (a `tool` of that
# module: the sources are checked against its go.sum). No network beyond the
# proxy, no Docker.
#
#   deploy/check/promtool.sh          check and test deploy/prometheus/*
#   deploy/check/promtool.sh ARGS...  run promtool with ARGS
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
# Build (go caches the packages) and run the binary directly. remove_all_sd
# leaves out the service-discovery plugins (cloud SDKs) that rule tests never
# use: a fifth fewer packages to compile on a cold cache.
promtool="${TMPDIR:-/tmp}/wochit-ingest-promtool"
go -C "$root/deploy/check" build -tags remove_all_sd -o "$promtool" github.com/prometheus/prometheus/cmd/promtool
if [ $# -gt 0 ]; then
  exec "$promtool" "$@"
fi
"$promtool" --version | head -1
"$promtool" check rules "$root/deploy/prometheus/alerts.yaml"
"$promtool" test rules "$root/deploy/prometheus/alerts_test.yaml"
