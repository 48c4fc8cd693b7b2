// What the ledger view's Node tests build for real: Ed25519 keys named as C2SP names them, signed
// and cosigned checkpoint notes, RFC 9162 trees with their consistency proofs (an obviously
// correct reference, straight from the RFC's recursive definitions), and local storage in memory.
import { createHash, generateKeyPairSync, sign } from "node:crypto";

/** @param {Buffer[]} parts */
const sha256 = (...parts) => createHash("sha256").update(Buffer.concat(parts)).digest();

/**
 * An Ed25519 key with its C2SP key id and verifier key (type 0x01 note signer, 0x04 cosigner).
 * @param {string} name
 */
export function newKey(name, type = 0x01) {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const raw = publicKey.export({ format: "der", type: "spki" }).subarray(-32);
  const material = Buffer.concat([Buffer.from([type]), raw]);
  const id = sha256(Buffer.from(`${name}\n`), material).subarray(0, 4);
  return {
    name,
    keyId: id.toString("hex"),
    id,
    vkey: `${name}+${id.toString("hex")}+${material.toString("base64")}`,
    /** @param {Buffer} message */
    sign: (message) => sign(null, message, privateKey),
  };
}

/** @param {string} origin @param {number} size @param {Buffer} root */
export const checkpointText = (origin, size, root) => `${origin}\n${size}\n${root.toString("base64")}\n`;

/** A signed note of `text` by `key`. @param {string} text @param {ReturnType<typeof newKey>} key */
export function signNote(text, key) {
  const signature = Buffer.concat([key.id, key.sign(Buffer.from(text))]);
  return `${text}\n\u2014 ${key.name} ${signature.toString("base64")}\n`;
}

/**
 * `note` with a witness's cosignature line at `time` (C2SP tlog-cosignature).
 * @param {string} note @param {string} text @param {ReturnType<typeof newKey>} key @param {number} time
 */
export function cosign(note, text, key, time) {
  const stamp = Buffer.alloc(8);
  stamp.writeBigUInt64BE(BigInt(time));
  const signed = key.sign(Buffer.from(`cosignature/v1\ntime ${time}\n${text}`));
  return `${note}\u2014 ${key.name} ${Buffer.concat([key.id, stamp, signed]).toString("base64")}\n`;
}

/** SPEC: RFC 9162 2.1.1: leaf hash 0x00 || entry, node hash 0x01 || left || right. */
export const leafHash = (/** @type {Buffer} */ entry) => sha256(Buffer.from([0]), entry);
const nodeHash = (/** @type {Buffer} */ l, /** @type {Buffer} */ r) => sha256(Buffer.from([1]), l, r);
/** The largest power of two smaller than n. @param {number} n */
const split = (n) => 2 ** Math.floor(Math.log2(n - 1));

/** MTH(D[n]) of leaf hashes. @param {Buffer[]} leaves @returns {Buffer} */
export function treeRoot(leaves) {
  if (leaves.length === 1) return leaves[0];
  const k = split(leaves.length);
  return nodeHash(treeRoot(leaves.slice(0, k)), treeRoot(leaves.slice(k)));
}

/** SUBPROOF(m, D[n], b) of RFC 9162 2.1.4.1. @param {number} m @param {Buffer[]} leaves @param {boolean} b @returns {Buffer[]} */
function subproof(m, leaves, b) {
  const n = leaves.length;
  if (m === n) return b ? [] : [treeRoot(leaves)];
  const k = split(n);
  if (m <= k) return [...subproof(m, leaves.slice(0, k), b), treeRoot(leaves.slice(k))];
  return [...subproof(m - k, leaves.slice(k), false), treeRoot(leaves.slice(0, k))];
}

/** PROOF(m, D[n]), base64 as the API serves it. @param {number} m @param {Buffer[]} leaves */
export const consistencyProof = (m, leaves) => subproof(m, leaves, true).map((h) => h.toString("base64"));

/** The Web Storage interface over a Map, as the browser's local storage behaves. */
export class MemoryStorage {
  #items = new Map();
  /** @param {string} key */
  getItem(key) {
    return this.#items.get(key) ?? null;
  }
  /** @param {string} key @param {string} value */
  setItem(key, value) {
    this.#items.set(key, String(value));
  }
}
