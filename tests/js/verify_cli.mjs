// Verify evidence bundles with the page's verifier from the command line, for the agreement test
// with `provledger verify` (tests/integration/web/test_js_verifier_agrees.py):
//
//   node tests/js/verify_cli.mjs --trusted-keys keys.txt --log-origin ORIGIN [--witness-policy FILE] \
//       [--server-keys keys.json] [--event-id ID] bundle.json...
//
// prints one JSON line per bundle: {"file", "status", "reason", "checks", "receipts"}; exit 0.
import { readFileSync } from "node:fs";

import { createVerifier, parseVerifierKeys } from "../../services/provledger/web/static/js/verify/index.js";

const args = process.argv.slice(2);
/** @type {Record<string, string>} */
const options = {};
const files = [];
for (let i = 0; i < args.length; i += 1) {
  if (args[i].startsWith("--")) options[args[i].slice(2)] = args[++i];
  else files.push(args[i]);
}
const read = (/** @type {string} */ path) => readFileSync(path, "utf8");
const verifier = createVerifier({
  pinnedKeys: options["trusted-keys"] ? parseVerifierKeys(read(options["trusted-keys"])).map((k) => k.vkey) : [],
  serverKeys: options["server-keys"] ? JSON.parse(read(options["server-keys"])).items : [],
  logOrigin: options["log-origin"],
  witnessPolicy: options["witness-policy"] ? read(options["witness-policy"]) : undefined,
});
for (const file of files) {
  const verdict = await verifier.verifyBundle(read(file), options["event-id"] ? { eventId: options["event-id"] } : {});
  const { status, reason, checks, receipts } = verdict;
  process.stdout.write(`${JSON.stringify({ file, status, reason, checks, receipts })}\n`);
}
