// RFC 9162 Merkle tree hashing and proof verification, on Uint8Arrays and BigInt sizes, exactly as
// the Python core's `provledger.ledger.merkle` (and transparency-dev/merkle) does it.
//
// SPEC: RFC 9162 2.1.1: "MTH({d(0)}) = SHA-256(0x00 || d(0))" and
// "MTH(D[n]) = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))", k the largest power of two below n.

import { VerifyError, concat, equal, hex, sha256 } from "./bytes.js";

/** Bytes in every hash of the log. */
export const HASH_SIZE = 32;
/** The largest tree size or index: sizes are uint64 on the wire. */
export const MAX_SIZE = (1n << 64n) - 1n;
/** A proof between trees below 2^64 leaves has at most 64 hashes; longer lists are refused unread. */
export const MAX_PROOF_HASHES = 64;

/** @param {Uint8Array} data @returns {Promise<Uint8Array>} SHA-256(0x00 || data) */
export function leafHash(data) {
  return sha256(concat(Uint8Array.of(0), data));
}

/** @param {Uint8Array} left @param {Uint8Array} right @returns {Promise<Uint8Array>} SHA-256(0x01 || left || right) */
export function nodeHash(left, right) {
  return sha256(concat(Uint8Array.of(1), left, right));
}

/**
 * The Merkle Tree Hash of some leaf hashes. Hashing pairs level by level and carrying an odd last
 * node up unchanged gives RFC 9162's tree without recursion.
 * @param {Uint8Array[]} leafHashes
 * @returns {Promise<Uint8Array>}
 */
export async function merkleRoot(leafHashes) {
  // SPEC: RFC 9162 2.1.1: "MTH({}) = SHA-256()".
  if (leafHashes.length === 0) return sha256(new Uint8Array(0));
  let level = leafHashes;
  while (level.length > 1) {
    const upper = [];
    for (let i = 0; i + 1 < level.length; i += 2) upper.push(nodeHash(level[i], level[i + 1]));
    const hashed = await Promise.all(upper);
    if (level.length % 2) hashed.push(level[level.length - 1]);
    level = hashed;
  }
  return level[0];
}

/** @param {string} what @param {Uint8Array} value */
function checkHash(what, value) {
  if (value.length !== HASH_SIZE) {
    throw new VerifyError(`${what} has ${value.length} bytes, a SHA-256 hash has ${HASH_SIZE}`);
  }
}

/** @param {Uint8Array[]} proof */
function checkProof(proof) {
  if (proof.length > MAX_PROOF_HASHES) {
    throw new VerifyError(`proof has ${proof.length} hashes, more than ${MAX_PROOF_HASHES}`);
  }
  proof.forEach((value, i) => checkHash(`proof element ${i}`, value));
}

/** @param {bigint} fn @param {bigint} sn @returns {[bigint, bigint]} */
function shiftUntilOddOrZero(fn, sn) {
  while ((fn & 1n) === 0n && fn !== 0n) {
    fn >>= 1n;
    sn >>= 1n;
  }
  return [fn, sn];
}

/**
 * Check that `leaf` is leaf `index` of the tree of `size` leaves with `root`; throws the reason.
 *
 * SPEC: RFC 9162 2.1.3.2: "If leaf_index is greater than or equal to tree_size, then fail"; walk
 * the path with fn = leaf_index, sn = tree_size - 1; "If sn is equal to 0 and r and the root_hash
 * are equal, then the log has proven the inclusion of hash. Otherwise, fail the proof verification."
 * @param {Uint8Array} leaf
 * @param {bigint} index
 * @param {bigint} size
 * @param {Uint8Array[]} proof
 * @param {Uint8Array} root
 */
export async function verifyInclusion(leaf, index, size, proof, root) {
  checkHash("leaf hash", leaf);
  checkHash("root", root);
  checkProof(proof);
  if (!(index >= 0n && index < size && size <= MAX_SIZE)) {
    throw new VerifyError(`leaf index ${index} is outside a tree of size ${size}`);
  }
  let [fn, sn, r] = [index, size - 1n, leaf];
  for (const p of proof) {
    if (sn === 0n) {
      throw new VerifyError(`inclusion proof is too long: ${proof.length} hashes for leaf ${index} of ${size}`);
    }
    if ((fn & 1n) === 1n || fn === sn) {
      r = await nodeHash(p, r);
      [fn, sn] = shiftUntilOddOrZero(fn, sn);
    } else {
      r = await nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) {
    throw new VerifyError(`inclusion proof is too short: ${proof.length} hashes for leaf ${index} of ${size}`);
  }
  if (!equal(r, root)) {
    throw new VerifyError(`inclusion proof for leaf ${index} of ${size} gives root ${hex(r)}, expected ${hex(root)}`);
  }
}

/**
 * Check that the tree of `newSize` leaves and `newRoot` extends the one of `oldSize`; throws the reason.
 *
 * SPEC: RFC 9162 2.1.4.2. As the transparency-dev vectors expect: an old size of 0 proves nothing
 * and is refused, as is oldSize > newSize; equal sizes need an empty proof and identical roots.
 * @param {bigint} oldSize
 * @param {bigint} newSize
 * @param {Uint8Array} oldRoot
 * @param {Uint8Array} newRoot
 * @param {Uint8Array[]} proof
 */
export async function verifyConsistency(oldSize, newSize, oldRoot, newRoot, proof) {
  if (!(oldSize >= 0n && oldSize <= MAX_SIZE && newSize >= 0n && newSize <= MAX_SIZE)) {
    throw new VerifyError(`tree sizes ${oldSize} and ${newSize} are not uint64`);
  }
  if (oldSize === 0n) throw new VerifyError("consistency with the empty tree (old size 0) proves nothing; refusing it");
  if (oldSize > newSize) throw new VerifyError(`old tree size ${oldSize} is larger than new tree size ${newSize}`);
  if (oldSize === newSize) {
    if (proof.length) throw new VerifyError(`sizes are equal (${oldSize}) but the proof has ${proof.length} hashes`);
    if (!equal(oldRoot, newRoot)) throw new VerifyError(`sizes are equal (${oldSize}) but the roots differ`);
    return;
  }
  checkHash("old root", oldRoot);
  checkHash("new root", newRoot);
  checkProof(proof);
  if (!proof.length) throw new VerifyError(`empty consistency proof from size ${oldSize} to ${newSize}`);
  const path = [...proof];
  // SPEC: "If first is an exact power of 2, then prepend first_hash to the consistency_path array."
  if ((oldSize & (oldSize - 1n)) === 0n) path.unshift(oldRoot);
  let [fn, sn] = [oldSize - 1n, newSize - 1n];
  while ((fn & 1n) === 1n) {
    fn >>= 1n;
    sn >>= 1n;
  }
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0n) throw new VerifyError(`consistency proof from ${oldSize} to ${newSize} is too long`);
    if ((fn & 1n) === 1n || fn === sn) {
      [fr, sr] = await Promise.all([nodeHash(c, fr), nodeHash(c, sr)]);
      [fn, sn] = shiftUntilOddOrZero(fn, sn);
    } else {
      sr = await nodeHash(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new VerifyError(`consistency proof from ${oldSize} to ${newSize} is too short`);
  if (!equal(fr, oldRoot)) throw new VerifyError(`consistency proof gives old root ${hex(fr)}, expected ${hex(oldRoot)}`);
  if (!equal(sr, newRoot)) throw new VerifyError(`consistency proof gives new root ${hex(sr)}, expected ${hex(newRoot)}`);
}
