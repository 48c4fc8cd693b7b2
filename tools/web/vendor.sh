#!/usr/bin/env bash
# Fetch the explorer page's pinned third-party modules (package-lock.json, `npm ci`) and copy the
# files the page imports, with their licences, into services/provledger/web/static/vendor/.
# Run by `make install`. Without npm the API still serves a page saying how to build them.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
vendor="$here/../../services/provledger/web/static/vendor"

if ! command -v npm >/dev/null 2>&1; then
    echo "npm not found: the explorer page's graph libraries were not fetched (the API serves a page"
    echo "saying so). Install Node.js and npm (Debian: apt-get install -y nodejs npm), then make install."
    exit 0
fi

# --ignore-scripts: no package may run code at install time; only the files copied below are used.
npm ci --prefix "$here" --ignore-scripts --no-audit --no-fund --loglevel=error
modules="$here/node_modules"
mkdir -p "$vendor"
install -m 0644 "$modules/cytoscape/dist/cytoscape.esm.min.mjs" "$vendor/cytoscape.esm.min.js"
install -m 0644 "$modules/cytoscape/LICENSE" "$vendor/cytoscape.LICENSE.txt"
# dagre's ES module bundles graphlib (no bare imports), so the browser loads it as is.
install -m 0644 "$modules/@dagrejs/dagre/dist/dagre.esm.js" "$vendor/dagre.esm.js"
install -m 0644 "$modules/@dagrejs/dagre/LICENSE" "$vendor/dagre.LICENSE.txt"
install -m 0644 "$modules/@dagrejs/graphlib/LICENSE" "$vendor/graphlib.LICENSE.txt"
echo "explorer page libraries: $(cd "$vendor" && ls | tr '\n' ' ')"
