// Block headers: the fixed 186-byte big-endian layout of `provledger.ledger.block`, decoded with
// every invariant the Python core checks, and the decoded fields a bundle repeats beside the bytes.
//
// offset size field            | offset size field
// 0      4    magic "PLBH"     | 106    32   log_root
// 4      2    version (1)      | 138    8    first_offset
// 6      16   log_id           | 146    8    last_offset
// 22     4    shard            | 154    4    event_count
// 26     8    height           | 158    8    min_event_time (int64)
// 34     32   prev_block_hash  | 166    8    max_event_time (int64)
// 66     32   batch_root       | 174    8    sealed_at (int64, microseconds)
// 98     8    tree_size        | 182    4    key_id
//
// block_hash = SHA-256(header bytes); signature = Ed25519(key, "provledger/block/v1\n" || header bytes).

import { VerifyError, b64encode, concat, equal, hex, uintBE, utf8 } from "./bytes.js";

export const HEADER_SIZE = 186;
/** Domain prefix of every block signature. */
export const BLOCK_SIGNATURE_DOMAIN = utf8("provledger/block/v1\n");

/**
 * @typedef {object} BlockHeader
 * @property {Uint8Array} bytes
 * @property {number} version
 * @property {Uint8Array} logId
 * @property {bigint} shard
 * @property {bigint} height
 * @property {Uint8Array} prevBlockHash
 * @property {Uint8Array} batchRoot
 * @property {bigint} treeSize
 * @property {Uint8Array} logRoot
 * @property {bigint} firstOffset
 * @property {bigint} lastOffset
 * @property {bigint} eventCount
 * @property {bigint} minEventTime
 * @property {bigint} maxEventTime
 * @property {bigint} sealedAt
 * @property {string} keyId 8 hex digits
 */

/** @param {Uint8Array} b @returns {bigint} */
function int64(b) {
  const n = uintBE(b);
  return n >= 1n << 63n ? n - (1n << 64n) : n;
}

/**
 * Decode canonical header bytes; reject any other length, magic, version or invariant.
 * @param {Uint8Array} bytes
 * @returns {BlockHeader}
 */
export function decodeHeader(bytes) {
  if (bytes.length !== HEADER_SIZE) throw new VerifyError(`a block header has ${HEADER_SIZE} bytes, got ${bytes.length}`);
  if (!equal(bytes.subarray(0, 4), utf8("PLBH"))) throw new VerifyError("block header magic is not PLBH");
  const at = (/** @type {number} */ from, /** @type {number} */ size) => bytes.slice(from, from + size);
  const header = {
    bytes: new Uint8Array(bytes),
    version: Number(uintBE(at(4, 2))),
    logId: at(6, 16),
    shard: uintBE(at(22, 4)),
    height: uintBE(at(26, 8)),
    prevBlockHash: at(34, 32),
    batchRoot: at(66, 32),
    treeSize: uintBE(at(98, 8)),
    logRoot: at(106, 32),
    firstOffset: uintBE(at(138, 8)),
    lastOffset: uintBE(at(146, 8)),
    eventCount: uintBE(at(154, 4)),
    minEventTime: int64(at(158, 8)),
    maxEventTime: int64(at(166, 8)),
    sealedAt: int64(at(174, 8)),
    keyId: hex(at(182, 4)),
  };
  const genesis = header.prevBlockHash.every((b) => b === 0);
  const problems = [
    [header.version !== 1, `version ${header.version} is not 1`],
    [header.eventCount < 1n, `event_count ${header.eventCount} is not between 1 and 2**32-1`],
    [header.treeSize < header.eventCount, `tree_size ${header.treeSize} < event_count`],
    [header.firstOffset > header.lastOffset, "offsets are not 0 <= first <= last"],
    [header.minEventTime > header.maxEventTime, "event times are not int64 with min <= max"],
    [genesis !== (header.height === 0n), "prev_block_hash is all zeros exactly at height 0"],
    [header.height === 0n && header.treeSize !== header.eventCount, "at height 0, tree_size is event_count"],
  ].filter(([bad]) => bad);
  if (problems.length) throw new VerifyError(`invalid block header: ${problems.map(([, why]) => why).join("; ")}`);
  return header;
}

/** @param {BlockHeader} header @returns {Uint8Array} the message its signature signs */
export function signedMessage(header) {
  return concat(BLOCK_SIGNATURE_DOMAIN, header.bytes);
}

/**
 * The decoded header as a bundle's `block` repeats it: ids in hex, hashes in base64, numbers.
 * @param {BlockHeader} header
 * @returns {Record<string, string | bigint | number>}
 */
export function headerFields(header) {
  return {
    height: header.height,
    key_id: header.keyId,
    version: header.version,
    log_id: hex(header.logId),
    shard: header.shard,
    prev_block_hash: b64encode(header.prevBlockHash),
    batch_root: b64encode(header.batchRoot),
    tree_size: header.treeSize,
    log_root: b64encode(header.logRoot),
    first_offset: header.firstOffset,
    last_offset: header.lastOffset,
    event_count: header.eventCount,
    min_event_time: header.minEventTime,
    max_event_time: header.maxEventTime,
    sealed_at: header.sealedAt,
  };
}

/**
 * Whether a JSON value equals a decoded field. JSON numbers beyond 2^53 lose precision when
 * parsed, so such a field is compared as the nearest double; the bytes are what is verified.
 * @param {unknown} value @param {string | bigint | number} expected
 * @returns {boolean}
 */
export function sameField(value, expected) {
  if (typeof expected === "string") return value === expected;
  if (typeof value !== "number" || !Number.isInteger(value)) return false;
  if (Number.isSafeInteger(value)) return BigInt(value) === BigInt(expected);
  return value === Number(expected);
}
