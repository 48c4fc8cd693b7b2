// C2SP signed notes, tlog-checkpoint bodies, provledger's shard-heads statements and C2SP
// cosignatures: parsing strictly and verifying with WebCrypto, as `provledger.ledger.note`,
// `checkpoint` and `cosignature` do.
//
// SPEC: C2SP signed-note, "Format": "A signed note consists of a text ending in newline (U+000A),
// followed by a blank line (only a newline), followed by one or more signature lines of this form:
// em dash (U+2014), space (U+0020), key name, space, base64-encoded signature, newline." "Signed
// notes MUST be valid UTF-8 and MUST NOT contain any ASCII control characters (those below U+0020)
// other than newline." "the text is separated from the signatures by the last empty line."

import { VerifyError, b64decodeStrict, concat, equal, hex, toBE, uintBE, utf8, wellFormed } from "./bytes.js";
import { ed25519Verify, validKeyName } from "./keys.js";
import { HASH_SIZE, leafHash, merkleRoot } from "./merkle.js";

/** SPEC: verifiers "MUST accept at least up to 16 signatures"; Go's note package accepts 100. */
export const MAX_SIGNATURES = 100;
/** A note longer than this (a statement naming ~16k shards) is refused before it is read. */
export const MAX_NOTE_CHARS = 1 << 20;

/**
 * @typedef {{name: string, keyId: string, signature: Uint8Array}} NoteSignature
 * @typedef {{text: string, signatures: NoteSignature[]}} Note
 * @typedef {{name: string, keyId: string, publicKey: Uint8Array}} NoteKey
 */

/** @param {string} text */
function checkText(text) {
  if (!text.endsWith("\n")) throw new VerifyError("note text must end with a newline");
  const bad = /[\u0000-\u0009\u000b-\u001f]/.exec(text);
  if (bad) throw new VerifyError(`note contains the control character U+${bad[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}`);
  if (!wellFormed(text)) throw new VerifyError("note is not valid UTF-8");
}

/** @param {string} line @returns {NoteSignature} */
function parseSignatureLine(line) {
  if (!line.startsWith("\u2014 ")) throw new VerifyError(`note signature line ${JSON.stringify(line.slice(0, 80))} does not start with an em dash and a space`);
  const rest = line.slice(2);
  const space = rest.indexOf(" ");
  if (space < 0) throw new VerifyError(`note signature line ${JSON.stringify(line.slice(0, 80))} is not '— <name> <signature>'`);
  const name = rest.slice(0, space);
  if (!validKeyName(name)) throw new VerifyError(`note signature line has an invalid key name ${JSON.stringify(name)}`);
  const payload = b64decodeStrict(rest.slice(space + 1), `signature of ${JSON.stringify(name)}`);
  if (payload.length <= 4) throw new VerifyError(`signature of ${JSON.stringify(name)} has ${payload.length} bytes, too short for id and signature`);
  return { name, keyId: hex(payload.subarray(0, 4)), signature: payload.subarray(4) };
}

/**
 * Split a signed note into its text and signature lines, checking only its syntax.
 * @param {unknown} data
 * @returns {Note}
 */
export function parseNote(data) {
  if (typeof data !== "string") throw new VerifyError("the note is missing or not a string");
  if (data.length > MAX_NOTE_CHARS) throw new VerifyError(`note has ${data.length} characters, more than ${MAX_NOTE_CHARS}`);
  checkText(data);
  const split = data.lastIndexOf("\n\n");
  if (split < 0) throw new VerifyError("note has no blank line before its signatures");
  const text = data.slice(0, split + 1);
  const block = data.slice(split + 2);
  if (!block) throw new VerifyError("note has no signature lines");
  const lines = block.slice(0, -1).split("\n");
  if (lines.length > MAX_SIGNATURES) throw new VerifyError(`note has ${lines.length} signatures, more than ${MAX_SIGNATURES}`);
  return { text, signatures: lines.map(parseSignatureLine) };
}

/**
 * Parse and verify a note against known keys; returns the verified signatures.
 *
 * SPEC: C2SP signed-note "Signatures": "Verifiers MUST ignore signatures from unknown keys [...]
 * If the key name and ID match a known key, verifiers MUST verify the signature. If a signature
 * from a known key fails to verify, clients SHOULD reject the whole note. If no signature from a
 * known key verifies successfully, clients MUST reject the note."
 * @param {unknown} data
 * @param {NoteKey[]} keys
 * @returns {Promise<{note: Note, verified: NoteSignature[]}>}
 */
export async function openNote(data, keys) {
  if (!keys.length) throw new VerifyError("no trusted note verifiers: refusing to open any note (fail closed)");
  const note = parseNote(data);
  const message = utf8(note.text);
  /** @type {NoteSignature[]} */
  const verified = [];
  for (const signature of note.signatures) {
    const known = keys.filter((k) => k.name === signature.name && k.keyId === signature.keyId);
    if (!known.length) continue;
    const results = await Promise.all(known.map((k) => ed25519Verify(k.publicKey, message, signature.signature)));
    if (!results.some(Boolean)) {
      throw new VerifyError(`note signature by ${signature.name} (id ${signature.keyId}) does not verify`);
    }
    verified.push(signature);
  }
  if (!verified.length) {
    const names = [...new Set(keys.map((k) => `${k.name} (${k.keyId})`))].join(", ");
    throw new VerifyError(`note has no signature from a trusted key; trusted: ${names}`);
  }
  return { note, verified };
}

/**
 * @typedef {{origin: string, size: bigint, root: Uint8Array, extensions: string[]}} Checkpoint
 */

/**
 * Parse checkpoint note text strictly.
 *
 * SPEC: C2SP tlog-checkpoint "Note text": "The first line is the origin [...] The second line is
 * the tree size, the ASCII decimal representation of the number of leaves in the tree, with no
 * leading zeroes [...] The third line is the root hash, the base64 encoding of the root [...] Any
 * following lines are extension lines, opaque and OPTIONAL. Extension lines, if any, MUST be non-empty."
 * @param {string} text
 * @returns {Checkpoint}
 */
export function parseCheckpoint(text) {
  checkText(text);
  const lines = text.slice(0, -1).split("\n");
  if (lines.length < 3) throw new VerifyError(`a checkpoint has at least 3 lines, got ${lines.length}`);
  const [origin, sizeText, rootText, ...extensions] = lines;
  if (!/^(0|[1-9][0-9]*)$/.test(sizeText)) throw new VerifyError(`checkpoint size ${JSON.stringify(sizeText.slice(0, 40))} is not a decimal without leading zeroes`);
  const size = BigInt(sizeText);
  if (size >= 1n << 64n) throw new VerifyError(`checkpoint size ${sizeText} is not a uint64`);
  const root = b64decodeStrict(rootText, "checkpoint root");
  if (root.length !== HASH_SIZE) throw new VerifyError(`invalid checkpoint: root has ${root.length} bytes, not ${HASH_SIZE}`);
  if (!origin) throw new VerifyError("invalid checkpoint: the origin line is empty");
  if (extensions.some((line) => !line)) throw new VerifyError("invalid checkpoint: an extension line is empty");
  return { origin, size, root, extensions };
}

/** @typedef {{shard: bigint, height: bigint, blockHash: Uint8Array}} ShardHead */

const HEAD_LINE = /^shard (0|[1-9][0-9]*) (0|[1-9][0-9]*) (\S+)$/u;

/** @param {ShardHead} head @returns {Uint8Array} `PLSH` || 1 || uint32 shard || uint64 height || block hash */
export function headLeafBytes(head) {
  return concat(utf8("PLSH"), Uint8Array.of(1), toBE(head.shard, 4), toBE(head.height, 8), head.blockHash);
}

/**
 * The heads a shard-heads statement names, after checking they make its size and root.
 * @param {Checkpoint} checkpoint
 * @returns {Promise<ShardHead[]>}
 */
export async function shardHeads(checkpoint) {
  const heads = checkpoint.extensions.map((line) => {
    const m = HEAD_LINE.exec(line);
    if (m === null) throw new VerifyError(`checkpoint extension line ${JSON.stringify(line.slice(0, 80))} is not 'shard <n> <height> <hash>'`);
    const blockHash = b64decodeStrict(m[3], "shard head block hash");
    if (blockHash.length !== HASH_SIZE) throw new VerifyError(`shard head block hash has ${blockHash.length} bytes, not ${HASH_SIZE}`);
    const head = { shard: BigInt(m[1]), height: BigInt(m[2]), blockHash };
    if (head.shard >= 1n << 32n || head.height >= 1n << 64n) throw new VerifyError(`shard head line ${JSON.stringify(line.slice(0, 80))} is out of range`);
    return head;
  });
  for (let i = 1; i < heads.length; i += 1) {
    if (heads[i].shard <= heads[i - 1].shard) throw new VerifyError("shard head lines are not in strictly increasing shard order");
  }
  if (BigInt(heads.length) !== checkpoint.size) throw new VerifyError(`checkpoint size ${checkpoint.size} but ${heads.length} shard head lines`);
  const root = await merkleRoot(await Promise.all(heads.map((h) => leafHash(headLeafBytes(h)))));
  if (!equal(root, checkpoint.root)) throw new VerifyError("the shard head lines do not hash to the checkpoint root");
  return heads;
}

/** SPEC: C2SP tlog-cosignature: the timestamp "MUST NOT exceed 2^63 - 1". */
const MAX_TIMESTAMP = (1n << 63n) - 1n;
/** 9999-12-31T23:59:59Z: a later time is not a date a report can print. */
const MAX_DATE_SECONDS = 253402300799n;

/**
 * Whether a cosignature line's signature (timestamp || Ed25519) cosigns the note text under a key;
 * returns its timestamp (POSIX seconds) when it does, null when it does not.
 *
 * SPEC: C2SP tlog-cosignature: the signature is `u64 timestamp || ed25519_signature[64]` "with the
 * timestamp encoded in big-endian order"; "The signed message MUST be two newline (U+000A)
 * terminated lines (one header line and one timestamp line) followed by the whole note body of
 * the cosigned checkpoint", the header line being `cosignature/v1`, the other `time <seconds>`.
 * @param {Uint8Array} publicKey @param {string} text @param {Uint8Array} signature
 * @returns {Promise<bigint | null>}
 */
export async function verifyCosignature(publicKey, text, signature) {
  if (signature.length !== 72) return null;
  const timestamp = uintBE(signature.subarray(0, 8));
  if (timestamp > MAX_TIMESTAMP) return null;
  const message = concat(utf8(`cosignature/v1\ntime ${timestamp}\n`), utf8(text));
  return (await ed25519Verify(publicKey, message, signature.subarray(8))) ? timestamp : null;
}

/** @param {bigint} seconds @returns {string} RFC 3339 UTC, or throws past year 9999 */
export function rfc3339(seconds) {
  if (seconds > MAX_DATE_SECONDS) throw new VerifyError(`cosignature time ${seconds} is not a date (beyond year 9999)`);
  return new Date(Number(seconds) * 1000).toISOString().replace(/\.000Z$/, "Z");
}
