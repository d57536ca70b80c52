#!/usr/bin/env bash
# Installs what the production-topology tier (go test -tags topology ./topology)
# needs on a clean Debian machine: PostgreSQL's server binaries. The test starts
# its own PostgreSQL (own data directory, own port) and builds the Temporal
# server itself; nothing else is required. Idempotent; run as root or with sudo.
set -euo pipefail

if compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null && command -v pg_isready >/dev/null; then
  echo "topology/setup.sh: PostgreSQL already installed: $(ls -d /usr/lib/postgresql/*/bin | tail -1)"
  exit 0
fi
sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# postgresql pulls in the server, the client tools (pg_isready) and the
# postgres system user, which the test runs the server as when it runs as root.
$sudo apt-get install -y -qq postgresql >/dev/null
echo "topology/setup.sh: installed $(ls -d /usr/lib/postgresql/*/bin | tail -1)"
