// Real evidence bundles built in Node for the verifier's tests: canonical events in Avro binary,
// RFC 9162 trees from the RFC's recursive definitions, 186-byte block headers signed with Ed25519,
// shard checkpoints, the anchorer's shard-heads statement with its link, witness cosignatures.
// The agreement with `provledger verify` on bundles Python builds is tests/integration/web/test_js_verifier_agrees.py.
import { createHash } from "node:crypto";

import { checkpointText, consistencyProof, cosign, leafHash, newKey, signNote, treeRoot } from "./ledger_view_fixtures.mjs";

export { cosign, newKey };

export const ORIGIN = "ledger.example/ml";
/** 2026-11-24T00:00:00Z in microseconds. */
export const T0 = 1_795_478_400_000_000n;

const sha256 = (/** @type {Buffer} */ data) => createHash("sha256").update(data).digest();

/** Avro long: zig-zag varint. @param {bigint} n */
function long(n) {
  let z = n >= 0n ? n << 1n : (-n << 1n) - 1n;
  const out = [];
  do {
    let b = Number(z & 0x7fn);
    z >>= 7n;
    if (z) b |= 0x80;
    out.push(b);
  } while (z);
  return Buffer.from(out);
}
const str = (/** @type {string} */ s) => Buffer.concat([long(BigInt(Buffer.byteLength(s))), Buffer.from(s)]);

/** The canonical bytes of a COMPLETE event of run `run` that produced one model. @param {number} i */
export function canonicalEvent(i, id = eventId(i)) {
  return Buffer.concat([
    str(id), long(T0 + BigInt(i)), long(2n), str("https://example.com/trainer"),
    str("0190f3a0-0000-7000-8000-000000000002"), long(0n), str("ml"), str("train"),
    long(0n), long(1n), str("models"), str(`resnet-${i}`), str(`sha256:${"ab".repeat(32)}`), str("model"), long(0n), long(0n),
    long(1n), str("team"), str("vision"), long(0n),
    long(0n), long(0n),
  ]);
}

/** A lowercase UUIDv7 for event `i`. @param {number} i */
export const eventId = (i) => `0193a0b1-0000-7000-8000-${i.toString(16).padStart(12, "0")}`;

/** The largest power of two smaller than n. @param {number} n */
const split = (n) => 2 ** Math.floor(Math.log2(n - 1));

/** PATH(m, D[n]) of RFC 9162 2.1.3.1. @param {number} m @param {Buffer[]} leaves @returns {Buffer[]} */
export function inclusionProof(m, leaves) {
  if (leaves.length === 1) return [];
  const k = split(leaves.length);
  return m < k ? [...inclusionProof(m, leaves.slice(0, k)), treeRoot(leaves.slice(k))]
    : [...inclusionProof(m - k, leaves.slice(k)), treeRoot(leaves.slice(0, k))];
}

/** @param {bigint} v @param {number} size */
function be(v, size) {
  const out = Buffer.alloc(size);
  for (let i = size - 1; i >= 0; i -= 1, v >>= 8n) out[i] = Number(v & 0xffn);
  return out;
}

/**
 * A shard's log sealed into blocks of the given sizes by `key`: events, leaves, headers, signatures.
 * @param {ReturnType<typeof newKey>} key @param {number[]} sizes
 */
export function sealShard(key, sizes, shard = 2, { origin = ORIGIN, sealedAt = (/** @type {number} */ h) => T0 + BigInt(h + 1) * 1_000_000n } = {}) {
  const events = [];
  const headers = [];
  const signatures = [];
  let prev = Buffer.alloc(32);
  for (const [height, size] of sizes.entries()) {
    const first = events.length;
    for (let i = 0; i < size; i += 1) events.push(canonicalEvent(first + i));
    const leaves = events.map((e) => leafHash(e));
    const header = Buffer.concat([
      Buffer.from("PLBH"), be(1n, 2), sha256(Buffer.from(origin)).subarray(0, 16), be(BigInt(shard), 4), be(BigInt(height), 8),
      prev, treeRoot(leaves.slice(first)), be(BigInt(events.length), 8), treeRoot(leaves),
      be(BigInt(first), 8), be(BigInt(events.length - 1), 8), be(BigInt(size), 4),
      be(T0, 8), be(T0 + BigInt(size), 8), be(sealedAt(height), 8), key.id,
    ]);
    headers.push(header);
    signatures.push(key.sign(Buffer.concat([Buffer.from("provledger/block/v1\n"), header])));
    prev = sha256(header);
  }
  return { shard, key, origin, events, headers, signatures, sizes };
}

/** @typedef {ReturnType<typeof sealShard>} SealedShard */

/** @param {SealedShard} s @param {number} height */
const treeSizeAt = (s, height) => s.sizes.slice(0, height + 1).reduce((a, b) => a + b, 0);

/** @param {SealedShard} s @param {number} height */
export function checkpointNote(s, height, key = s.key) {
  const size = treeSizeAt(s, height);
  return signNote(checkpointText(`${s.origin}/shard/${s.shard}`, size, treeRoot(s.events.slice(0, size).map((e) => leafHash(e)))), key);
}

/** The decoded header fields a bundle repeats. @param {Buffer} h @param {number} height */
function fields(h, height) {
  const u = (/** @type {number} */ at, /** @type {number} */ n) => Number(BigInt(`0x${h.subarray(at, at + n).toString("hex")}`));
  return {
    height, key_id: h.subarray(182, 186).toString("hex"), version: 1, log_id: h.subarray(6, 22).toString("hex"), shard: u(22, 4),
    prev_block_hash: h.subarray(34, 66).toString("base64"), batch_root: h.subarray(66, 98).toString("base64"), tree_size: u(98, 8),
    log_root: h.subarray(106, 138).toString("base64"), first_offset: u(138, 8), last_offset: u(146, 8), event_count: u(154, 4),
    min_event_time: u(158, 8), max_event_time: u(166, 8), sealed_at: u(174, 8),
  };
}

/**
 * The bundle of event `leaf`, against the block that sealed it.
 * @param {SealedShard} s @param {number} leaf @param {object[]} receipts
 */
export function bundle(s, leaf, receipts = []) {
  const height = s.sizes.findIndex((_, h) => leaf < treeSizeAt(s, h));
  const size = treeSizeAt(s, height);
  const leaves = s.events.slice(0, size).map((e) => leafHash(e));
  return {
    format: "provledger-evidence/v1",
    event: { event_id: eventId(leaf), canonical: s.events[leaf].toString("base64") },
    shard: s.shard, leaf_index: leaf, tree_size: size,
    inclusion_proof: inclusionProof(leaf, leaves).map((h) => h.toString("base64")),
    block: { header: s.headers[height].toString("base64"), signature: s.signatures[height].toString("base64"), ...fields(s.headers[height], height) },
    checkpoint: checkpointNote(s, height),
    receipts, anchored: receipts.length > 0, next_anchor_due: null, keys: [s.key.vkey],
  };
}

/** The leaf encoding of a shard head: PLSH, 1, uint32 shard, uint64 height, block hash. */
const headLeaf = (/** @type {number} */ shard, /** @type {number} */ height, /** @type {Buffer} */ hash) =>
  leafHash(Buffer.concat([Buffer.from("PLSH"), Buffer.from([1]), be(BigInt(shard), 4), be(BigInt(height), 8), hash]));

/**
 * An `rfc3161` receipt (its token left out: the browser does not read it) whose statement, signed by
 * `anchorer`, names block `to` of the shard, linked from block `from`.
 * @param {SealedShard} s @param {ReturnType<typeof newKey>} anchorer @param {number} from @param {number} to
 */
export function statementReceipt(s, anchorer, from, to) {
  const hash = sha256(s.headers[to]);
  const text = `${s.origin}\n1\n${treeRoot([headLeaf(s.shard, to, hash)]).toString("base64")}\nshard ${s.shard} ${to} ${hash.toString("base64")}\n`;
  const leaves = s.events.slice(0, treeSizeAt(s, to)).map((e) => leafHash(e));
  return {
    type: "rfc3161", statement: signNote(text, anchorer), responses: ["AAAA"],
    link: {
      seq: 1, shard: s.shard, height: to, header: s.headers[to].toString("base64"), signature: s.signatures[to].toString("base64"),
      consistency_proof: from === to ? [] : consistencyProof(treeSizeAt(s, from), leaves),
    },
  };
}

/**
 * A `tlog-witness` receipt: the checkpoint after block `to`, cosigned by `witnesses` at `time`.
 * @param {SealedShard} s @param {number} from @param {number} to @param {ReturnType<typeof newKey>[]} witnesses
 */
export function witnessReceipt(s, from, to, witnesses, time = 1796083200) {
  let note = checkpointNote(s, to);
  const text = note.slice(0, note.lastIndexOf("\n\n") + 1);
  for (const w of witnesses) note = cosign(note, text, w, time);
  const leaves = s.events.slice(0, treeSizeAt(s, to)).map((e) => leafHash(e));
  return { type: "tlog-witness", checkpoint: note, consistency_proof: from === to ? [] : consistencyProof(treeSizeAt(s, from), leaves) };
}

/** A `/v1/keys` item for `key`. @param {ReturnType<typeof newKey>} key @param {"sealer" | "anchorer"} role */
export const serverKey = (key, role, validFrom = "2026-11-01T00:00:00Z", validUntil = null) =>
  ({ role, key_id: key.keyId, name: key.name, verifier_key: key.vkey, valid_from: validFrom, valid_until: validUntil });
