#!/usr/bin/env bash
# Runs the three verification examples against vector.json, each verifying it
# and rejecting a tampered body and a stale timestamp: Go (the Standard
# Webhooks reference library), Node.js (the standardwebhooks npm package,
# installed from package-lock.json) and Python (standard library only).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
vector="$here/vector.json"

echo "Go ($(go env GOVERSION)):"
(cd "$here" && go run ./go "$vector")

echo "Node.js ($(node --version)):"
(cd "$here/node" && npm ci --no-audit --no-fund --loglevel=error >/dev/null && node verify.mjs "$vector")

echo "Python ($(python3 --version 2>&1)):"
python3 "$here/python/verify.py" "$vector"
