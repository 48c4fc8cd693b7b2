// The evidence bundle (`provledger-evidence/v1`) read strictly, as `provledger.ledger.bundle`'s
// `Evidence.from_json` reads it: right format, types, canonical base64, header fields matching the
// header bytes, `anchored` agreeing with the receipts. Anything else is a "bundle" failure with the
// field named. Lists are bounded before they are read, so no bundle makes the verifier slow.

import { VerifyError, b64decodeStrict, kindOf } from "./bytes.js";
import { parseVerifierKey } from "./keys.js";
import { decodeHeader, headerFields, sameField } from "./header.js";

export const EVIDENCE_FORMAT = "provledger-evidence/v1";
/** Far above what the API serves (one receipt per anchor kind, a handful of keys). */
export const MAX_RECEIPTS = 64;
export const MAX_KEYS = 256;
/** Hashes a bundle may list before it is refused unread; a valid proof has at most 64. */
export const MAX_LISTED_HASHES = 4096;
/** A RunEvent is at most 1 MiB as RFC 8785 JSON; its canonical bytes in base64 stay well under this. */
export const MAX_CANONICAL_CHARS = 8 << 20;

/**
 * @typedef {object} Evidence
 * @property {string} eventId
 * @property {Uint8Array} canonical
 * @property {number} shard
 * @property {number} leafIndex
 * @property {number} treeSize
 * @property {Uint8Array[]} inclusionProof
 * @property {import("./header.js").BlockHeader} header
 * @property {Uint8Array} signature
 * @property {string} checkpoint
 * @property {Array<Record<string, unknown> & {type: string}>} receipts
 */

/**
 * @param {Record<string, unknown>} object @param {string} where @param {string} key
 * @returns {number} a non-negative integer field
 */
function count(object, where, key) {
  const value = object[key];
  if (typeof value !== "number" || !Number.isInteger(value)) throw new VerifyError(`evidence ${where}${key} is missing or not a int`);
  if (value < 0) throw new VerifyError(`evidence ${where}${key} is negative`);
  return value;
}

/**
 * @param {unknown} value @param {string} what
 * @returns {Record<string, unknown>}
 */
export function object(value, what) {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new VerifyError(`${what} is not a JSON object`);
  return /** @type {Record<string, unknown>} */ (value);
}

/**
 * A list of strings of at most `max` entries, read before any entry is decoded.
 * @param {unknown} value @param {string} what @param {number} max
 * @returns {string[]}
 */
export function strings(value, what, max) {
  if (!Array.isArray(value)) throw new VerifyError(`${what} is missing or not a list (got ${kindOf(value)})`);
  if (value.length > max) throw new VerifyError(`${what} has ${value.length} entries, more than ${max}`);
  if (!value.every((v) => typeof v === "string")) throw new VerifyError(`${what} has a non-string entry`);
  return value;
}

/**
 * Read a bundle strictly.
 * @param {unknown} document parsed JSON
 * @returns {Evidence}
 */
export function readBundle(document) {
  const top = object(document, "evidence");
  if (top.format !== EVIDENCE_FORMAT) throw new VerifyError(`evidence format is ${JSON.stringify(top.format) ?? "missing"}, not ${JSON.stringify(EVIDENCE_FORMAT)}`);
  const event = object(top.event, "evidence event");
  const block = object(top.block, "evidence block");
  const header = decodeHeader(b64decodeStrict(block.header, "evidence block.header"));
  for (const [key, expected] of Object.entries(headerFields(header))) {
    if (!sameField(block[key], expected)) {
      throw new VerifyError(`evidence block.${key} is ${JSON.stringify(block[key]) ?? "missing"} but the header bytes say ${expected}`);
    }
  }
  const keys = strings(top.keys, "evidence keys", MAX_KEYS);
  for (const key of keys) parseVerifierKey(key);
  if (!Array.isArray(top.receipts)) throw new VerifyError("evidence receipts is missing or not a list");
  if (top.receipts.length > MAX_RECEIPTS) throw new VerifyError(`evidence receipts has ${top.receipts.length} entries, more than ${MAX_RECEIPTS}`);
  const receipts = top.receipts.map((r) => {
    const receipt = object(r, "a receipt");
    if (typeof receipt.type !== "string" || !receipt.type) throw new VerifyError("a receipt is not an object with a string 'type'");
    return /** @type {Record<string, unknown> & {type: string}} */ (receipt);
  });
  checkAnchoringState(top, receipts.length > 0);
  if (typeof event.event_id !== "string") throw new VerifyError("evidence event.event_id is missing or not a str");
  if (typeof event.canonical === "string" && event.canonical.length > MAX_CANONICAL_CHARS) {
    throw new VerifyError(`evidence event.canonical is over ${MAX_CANONICAL_CHARS} characters`);
  }
  const canonical = b64decodeStrict(event.canonical, "evidence event.canonical");
  // Bounded loosely here, so an over-long proof fails the inclusion check, as in provledger verify.
  const proof = strings(top.inclusion_proof, "evidence inclusion_proof", MAX_LISTED_HASHES);
  if (typeof top.checkpoint !== "string") throw new VerifyError("evidence checkpoint is missing or not a str");
  return {
    eventId: event.event_id,
    canonical,
    shard: count(top, "", "shard"),
    leafIndex: count(top, "", "leaf_index"),
    treeSize: count(top, "", "tree_size"),
    inclusionProof: proof.map((h) => b64decodeStrict(h, "evidence inclusion_proof entry")),
    header,
    signature: b64decodeStrict(block.signature, "evidence block.signature"),
    checkpoint: top.checkpoint,
    receipts,
  };
}

/** @param {Record<string, unknown>} top @param {boolean} anchored */
function checkAnchoringState(top, anchored) {
  const said = "anchored" in top ? top.anchored : anchored;
  if (said !== anchored) throw new VerifyError(`evidence anchored is ${JSON.stringify(said)} but it carries ${anchored ? "receipts" : "no receipt"}`);
  const due = top.next_anchor_due ?? null;
  if (due === null) return;
  if (typeof due !== "string" || anchored || !/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(due)) {
    throw new VerifyError(`evidence next_anchor_due ${JSON.stringify(due)} is not null, nor the time of an unanchored bundle`);
  }
}
