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
# Build once (go caches it) and run the binary directly.
promtool=$(go -C "$root/deploy/check" tool -n promtool)
if [ $# -gt 0 ]; then
  exec "$promtool" "$@"
fi
"$promtool" --version | head -1
"$promtool" check rules "$root/deploy/prometheus/alerts.yaml"
"$promtool" test rules "$root/deploy/prometheus/alerts_test.yaml"
