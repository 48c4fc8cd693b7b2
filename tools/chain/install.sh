#!/usr/bin/env bash
# Install the pinned chain tooling (package-lock.json, `npm ci`): solc (solcjs) to recompile the
# anchor contract, and anvil, the local JSON-RPC node `provledger up` and the evm tests run.
# Run by `make install`. Without npm, `provledger up` runs without the evm anchor kind and the
# tests that need anvil or solc skip, each saying why.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

if ! command -v npm >/dev/null 2>&1; then
    echo "npm not found: the local chain (anvil) and solc were not installed, so \`provledger up\` runs"
    echo "without the evm anchor kind. Install Node.js and npm (Debian: apt-get install -y nodejs npm),"
    echo "then make install."
    exit 0
fi

# --ignore-scripts: no package may run code at install time (anvil ships its binary in the package).
npm ci --prefix "$here" --ignore-scripts --no-audit --no-fund --loglevel=error
echo "chain tools: solc $(node -e 'console.log(require(process.argv[1]).version())' "$here/node_modules/solc"), \
$("$here/node_modules/.bin/anvil" --version 2>/dev/null | head -1 || echo 'anvil: not for this platform')"
