// Anchor receipts: the link every receipt carries from the bundle's block to what an anchor kind
// vouched for, checked as `provledger.ledger.anchoring.verify_link` and
// `provledger.ledger.witnessed.link_checkpoint` check it, and the witnesses' cosignatures.
//
// Two forms, fixed by the receipt's type (as `provledger.ledger.evidence` decides it, so no bundle
// picks a weaker link): `tlog-witness` receipts carry the shard's own checkpoint and a consistency
// proof from the block's tree; every other known kind (`rfc3161`, `evm`) carries the anchorer's
// statement and a `link` to the head it names. The kind's own anchor (an RFC 3161 token, a chain
// receipt) is not checked in the browser: `provledger verify --tsa-roots` checks tokens.

import { VerifyError, b64decodeStrict, equal, hex, sha256 } from "./bytes.js";
import { decodeHeader, signedMessage } from "./header.js";
import { MAX_PROOF_HASHES, verifyConsistency } from "./merkle.js";
import { openNote, parseCheckpoint, parseNote, shardHeads } from "./note.js";
import { checkCosignatures } from "./policy.js";
import { describeKey, ed25519Verify, validAt } from "./keys.js";
import { object, strings } from "./bundle.js";

/** The receipt type of cosigned shard checkpoints. */
export const TLOG_WITNESS = "tlog-witness";
/** Statement-linked kinds this verifier checks the link of; their own anchor is checked elsewhere. */
export const STATEMENT_LINKED = new Map([
  ["rfc3161", "its RFC 3161 tokens are unchecked here: checked by `provledger verify --tsa-roots`"],
  ["evm", "its chain receipt is unchecked here: checked by `provledger verify --evm-rpc URL` or `--evm-trusted-block N:HASH`"],
]);
/** A shard checkpoint with 100 signature lines is under 20 KiB. */
const MAX_CHECKPOINT_CHARS = 64 << 10;

/**
 * @typedef {import("./keys.js").TrustedKey} TrustedKey
 * @typedef {import("./header.js").BlockHeader} BlockHeader
 * @typedef {{headerKeys: TrustedKey[], statementKeys: TrustedKey[], allKeys: TrustedKey[]}} Trust
 * @typedef {{status: "verified" | "failed" | "unchecked", detail: string, attestedAt: bigint | null}} ReceiptOutcome
 */

/**
 * The trusted keys with the header's key id whose signature it is, whatever their ranges.
 * @param {BlockHeader} header @param {Uint8Array} signature @param {TrustedKey[]} keys
 * @returns {Promise<TrustedKey[]>}
 */
export async function headerSigners(header, signature, keys) {
  const message = signedMessage(header);
  const named = keys.filter((k) => k.keyId === header.keyId);
  const verified = await Promise.all(named.map((k) => ed25519Verify(k.publicKey, message, signature)));
  return named.filter((_, i) => verified[i]);
}

/**
 * The trusted key with the header's key id, valid at its `sealed_at`, whose signature it is
 * (`KeySet.verify`), given the `signers` found by `headerSigners`; throws saying which of the
 * three does not hold.
 * @param {BlockHeader} header @param {TrustedKey[]} keys @param {TrustedKey[]} signers
 * @returns {TrustedKey}
 */
export function signingKey(header, keys, signers) {
  const where = `block ${header.shard}/${header.height}`;
  const named = keys.filter((k) => k.keyId === header.keyId);
  if (!named.length) throw new VerifyError(`${where}: no trusted key has key id ${header.keyId}`);
  const valid = named.filter((k) => validAt(k, header.sealedAt));
  if (!valid.length) throw new VerifyError(`${where}: key id ${header.keyId} is not valid at ${header.sealedAt}: ${named.map(describeKey).join("; ")}`);
  const key = valid.find((k) => signers.includes(k));
  if (key === undefined) throw new VerifyError(`${where}: signature does not verify under ${valid.map(describeKey).join("; ")}`);
  return key;
}

/** @param {Record<string, unknown>} link @param {string} key @returns {bigint} */
function linkCount(link, key) {
  const value = link[key];
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0) throw new VerifyError(`receipt link.${key} is missing or not a non-negative integer`);
  return BigInt(value);
}

/** @param {unknown} value @param {string} what @returns {Uint8Array[]} */
function proofHashes(value, what) {
  return strings(value, what, MAX_PROOF_HASHES).map((h) => b64decodeStrict(h, `${what} entry`));
}

/**
 * Check that the receipt's statement anchors a head whose log extends the one `block` ends.
 * @param {Record<string, unknown>} receipt @param {BlockHeader} block @param {Trust} trust @param {string} shardOrigin
 * @returns {Promise<string>} what the link established
 */
export async function verifyLink(receipt, block, trust, shardOrigin) {
  if (typeof receipt.statement !== "string") throw new VerifyError("the receipt has no string 'statement'");
  if (typeof receipt.link !== "object" || receipt.link === null || Array.isArray(receipt.link)) throw new VerifyError("the receipt has no 'link' object");
  const link = object(receipt.link, "receipt link");
  const [seq, shard, height] = [linkCount(link, "seq"), linkCount(link, "shard"), linkCount(link, "height")];
  const proof = proofHashes(link.consistency_proof, "receipt link.consistency_proof");
  const head = decodeHeader(b64decodeStrict(link.header, "receipt link.header"));
  const signature = b64decodeStrict(link.signature, "receipt link.signature");
  if (shard !== head.shard || height !== head.height) throw new VerifyError(`link names block ${shard}/${height}, its header is block ${head.shard}/${head.height}`);
  if (head.shard !== block.shard || !equal(head.logId, block.logId)) {
    throw new VerifyError(`link header is of shard ${head.shard} of log ${hex(head.logId)}, the bundle's block of shard ${block.shard} of log ${hex(block.logId)}`);
  }
  signingKey(head, trust.headerKeys, await headerSigners(head, signature, trust.headerKeys));
  // A key whose public half signs these blocks never counts for a statement (ARCHITECTURE.md
  // section 3: the anchorer signs "with its own key (never the sealer's)").
  const sealers = new Set(trust.headerKeys.filter((k) => k.keyId === block.keyId || k.keyId === head.keyId).map((k) => hex(k.publicKey)));
  const candidates = trust.statementKeys.filter((k) => !sealers.has(hex(k.publicKey)));
  if (!candidates.length) {
    throw new VerifyError("no trusted key other than the block signer's may sign statements: add the anchorer's verifier key (GET /v1/keys) to the trusted keys");
  }
  let opened;
  try {
    opened = await openNote(receipt.statement, candidates);
  } catch (error) {
    throw new VerifyError(`statement: ${/** @type {Error} */ (error).message} (a block-signing key never counts; trust the anchorer's key, GET /v1/keys)`);
  }
  const statement = parseCheckpoint(opened.note.text);
  if (`${statement.origin}/shard/${block.shard}` !== shardOrigin) {
    throw new VerifyError(`statement origin ${JSON.stringify(statement.origin)} is not the ledger of checkpoint ${JSON.stringify(shardOrigin)}`);
  }
  const named = (await shardHeads(statement)).find((h) => h.shard === block.shard);
  const headHash = await sha256(head.bytes);
  if (named === undefined || named.height !== head.height || !equal(named.blockHash, headHash)) {
    const said = named === undefined ? "no head" : `head ${named.height} hash ${hex(named.blockHash)}`;
    throw new VerifyError(`statement names ${said} for shard ${block.shard}; the link is head ${head.height} hash ${hex(headHash)}`);
  }
  if (head.height < block.height) throw new VerifyError(`anchored head ${head.height} is below the bundle's block ${block.height}`);
  if (head.height === block.height && !equal(head.bytes, block.bytes)) throw new VerifyError(`anchored head ${head.height} is not the bundle's block of that height`);
  if (head.height > block.height && head.treeSize <= block.treeSize) {
    throw new VerifyError(`anchored head ${head.height} has tree size ${head.treeSize}, not above the block's ${block.treeSize}`);
  }
  // SPEC: RFC 9162 2.1.4.2: a client holding first_hash for tree size first and second_hash for
  // size second, 0 < first < second, verifies the consistency proof between them.
  try {
    await verifyConsistency(block.treeSize, head.treeSize, block.logRoot, head.logRoot, proof);
  } catch (error) {
    throw new VerifyError(`link consistency proof: ${/** @type {Error} */ (error).message}`);
  }
  const signer = opened.verified[0];
  return `statement ${seq} signed by ${signer.name} (id ${signer.keyId}) names shard ${block.shard} head ${head.height} ` +
    `(tree size ${head.treeSize}), consistent with this block's tree size ${block.treeSize}`;
}

/**
 * Check that a `tlog-witness` receipt's checkpoint is the shard's log, signed by a trusted key and
 * grown from the block's tree; then its cosignatures under the policy when there is one.
 * @param {Record<string, unknown>} receipt @param {BlockHeader} block @param {Trust} trust
 * @param {string} shardOrigin @param {import("./policy.js").WitnessPolicy | null} policy
 * @returns {Promise<ReceiptOutcome>}
 */
export async function verifyWitnessReceipt(receipt, block, trust, shardOrigin, policy) {
  const note = receipt.checkpoint;
  if (typeof note !== "string" || !Array.isArray(receipt.consistency_proof)) {
    throw new VerifyError("not a tlog-witness receipt with a string 'checkpoint' and a list 'consistency_proof'");
  }
  if (note.length > MAX_CHECKPOINT_CHARS) throw new VerifyError(`tlog-witness checkpoint has ${note.length} characters, more than ${MAX_CHECKPOINT_CHARS}`);
  const proof = proofHashes(receipt.consistency_proof, "tlog-witness consistency_proof");
  const opened = await openNote(note, trust.allKeys);
  const checkpoint = parseCheckpoint(opened.note.text);
  if (checkpoint.origin !== shardOrigin) throw new VerifyError(`witnessed checkpoint origin ${JSON.stringify(checkpoint.origin)} is not ${JSON.stringify(shardOrigin)}, the bundle's shard`);
  if (checkpoint.size < block.treeSize) {
    throw new VerifyError(`witnessed checkpoint size ${checkpoint.size} is smaller than the block's tree size ${block.treeSize}: it cannot vouch for this block`);
  }
  try {
    await verifyConsistency(block.treeSize, checkpoint.size, block.logRoot, checkpoint.root, proof);
  } catch (error) {
    throw new VerifyError(`the witnessed checkpoint does not extend the block's tree (size ${block.treeSize} to ${checkpoint.size}): ${/** @type {Error} */ (error).message}`);
  }
  const signers = [...new Set(opened.verified.map((s) => s.name))].join(", ");
  const linked = `checkpoint ${checkpoint.origin} at size ${checkpoint.size} is signed by ${signers} and extends the block's tree of size ${block.treeSize}`;
  if (policy !== null) {
    const witnessed = await checkCosignatures(note, policy);
    return { status: "verified", detail: `${linked}; ${witnessed.detail}`, attestedAt: witnessed.latest * 1_000_000n };
  }
  const logLines = new Set(opened.verified.map((s) => `${s.name}+${s.keyId}`));
  const others = parseNote(note).signatures.filter((s) => !logLines.has(`${s.name}+${s.keyId}`));
  const named = others.length ? `cosignature lines by ${others.map((s) => `${s.name} (id ${s.keyId})`).join(", ")}` : "no cosignature line";
  return { status: "unchecked", detail: `${linked}; ${named}, unchecked: no witness policy given`, attestedAt: null };
}
