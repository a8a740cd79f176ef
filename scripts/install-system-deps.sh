#!/usr/bin/env bash
# System packages the tests need, installed only when missing (Debian/Ubuntu, as root or
# with sudo). Java and Node.js/npm run DynamoDB Local and the Cosmos DB server.
set -euo pipefail

need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v redis-cli >/dev/null || need+=(redis-tools)
command -v java >/dev/null || need+=(default-jre-headless)
command -v npm >/dev/null || need+=(npm)
# PostgreSQL's server binaries (initdb, postgres, pg_isready) for the throw-away servers the
# tests start themselves; Debian's package also sets up a cluster of its own on port 5432,
# which pagedlist never uses.
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null \
  || need+=(postgresql)
# Headless Chromium for the feed application's browser tests (Playwright drives it).
command -v chromium >/dev/null || need+=(chromium)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "missing ${need[*]}: install them with your package manager" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing ${need[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
