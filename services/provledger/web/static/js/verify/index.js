// provledger's evidence verifier for the browser (and Node 20): plain ES modules, WebCrypto for
// SHA-256 and Ed25519, no dependencies. It checks evidence bundles as `provledger verify` does,
// for the parts a browser can check, and says whose keys vouched:
//
//   import { createVerifier, parseVerifierKeys } from "./verify/index.js";
//   const pinned = parseVerifierKeys(keyFileText).map((k) => k.vkey);
//   const verifier = createVerifier({ pinnedKeys: pinned, serverKeys: (await getJSON("/v1/keys")).items,
//                                     logOrigin: "ledger.example.com/ml" });
//   const verdict = await verifier.verifyBundle(await getJSON(`/v1/events/${id}/evidence`), { eventId: id });
//   verdict.status; // "verified" (pinned keys) | "server-keys" (only /v1/keys vouches) | "failed"

import { parseKeyFile } from "./keys.js";

export { createVerifier } from "./verifier.js";
export { decodeCanonicalEvent } from "./event.js";
export { parseWitnessPolicy } from "./policy.js";

/**
 * The user's key file: C2SP verifier keys one a line (`#` comments), or a JSON key set with
 * validity ranges (as `provledger verify --trusted-keys` reads). Throws an Error with the reason.
 * @param {string} text
 * @returns {Array<{name: string, keyId: string, publicKey: Uint8Array, vkey: string, validFrom: number, validUntil: number | null}>}
 */
export function parseVerifierKeys(text) {
  return parseKeyFile(text).map((k) => ({
    name: k.name,
    keyId: k.keyId,
    publicKey: k.publicKey,
    vkey: k.vkey,
    validFrom: Number(k.validFrom),
    validUntil: k.validUntil === null ? null : Number(k.validUntil),
  }));
}
