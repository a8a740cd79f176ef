#!/usr/bin/env bash
# axe-core, the accessibility checker the feed application's browser tests inject into
# each page, installed with npm into the pagedlist cache (once; npm comes from
# install-system-deps.sh). tests/app/conftest.py reads AXE_VERSION from this file.
set -euo pipefail

AXE_VERSION=4.14.1

cache="${PAGEDLIST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pagedlist}"
prefix="$cache/npm/axe-core-$AXE_VERSION"
if [ -f "$prefix/node_modules/axe-core/axe.min.js" ]; then
  exit 0
fi
mkdir -p "$prefix"
echo "installing axe-core $AXE_VERSION into $prefix"
npm install --no-save --no-audit --no-fund --prefix "$prefix" "axe-core@$AXE_VERSION" >/dev/null
