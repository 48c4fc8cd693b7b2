// C2SP verifier keys, their key ids, Ed25519 verification through WebCrypto, and the key lists a
// verifier trusts: the user's pinned keys, and the server's `/v1/keys` items (with roles and ranges).
//
// SPEC: C2SP signed-note: "key ID = SHA-256(key name || 0x0A || 0x01 || 32-byte Ed25519 public
// key)[:4]"; "Key names MUST be non-empty and MUST NOT contain any Unicode spaces or plus (U+002B)
// characters". A verifier key is `<name>+<hex(key id)>+<base64(type || public key)>`.

import { VerifyError, b64decodeStrict, concat, equal, hex, utf8 } from "./bytes.js";
import { sha256Sync } from "./sha256.js";

/** Signature type of plain Ed25519 note signatures. SPEC: C2SP signed-note "Signature types". */
export const SIG_TYPE_ED25519 = 0x01;
/** Signature type of Ed25519 cosignatures. SPEC: C2SP tlog-cosignature. */
export const SIG_TYPE_COSIGNATURE = 0x04;

/**
 * @typedef {object} VerifierKey
 * @property {string} name
 * @property {string} keyId 8 lowercase hex digits
 * @property {Uint8Array} publicKey 32 raw Ed25519 bytes
 * @property {string} vkey the C2SP verifier key string
 * @property {number} type the signature type byte
 */

/**
 * @typedef {VerifierKey & {validFrom: bigint, validUntil: bigint | null, role: string | null}} TrustedKey
 * A key and the `sealed_at` times (microseconds) it may sign blocks for, `[validFrom, validUntil)`.
 */

/** @param {string} name @returns {boolean} */
export function validKeyName(name) {
  return name.length > 0 && !name.includes("+") && !/[\s\u0000-\u001f]/u.test(name);
}

/**
 * The 4-byte C2SP key id of a key, as hex.
 * @param {string} name @param {number} type @param {Uint8Array} publicKey
 * @returns {string}
 */
export function keyIdOf(name, type, publicKey) {
  return hex(sha256Sync(concat(utf8(`${name}\n`), Uint8Array.of(type), publicKey)).subarray(0, 4));
}

/**
 * A C2SP verifier key string of the given signature type; rejects a wrong type, a key that is not
 * 32 bytes, and a key id that does not match the one derived from name and key (as Go's note package).
 * @param {unknown} text
 * @param {number} [type]
 * @returns {VerifierKey}
 */
export function parseVerifierKey(text, type = SIG_TYPE_ED25519) {
  if (typeof text !== "string") throw new VerifyError("a verifier key is not a string");
  const first = text.indexOf("+");
  const second = first < 0 ? -1 : text.indexOf("+", first + 1);
  if (second < 0) {
    throw new VerifyError(`verifier key ${JSON.stringify(text.slice(0, 80))} is not <name>+<key id>+<key>`);
  }
  const [name, id, material] = [text.slice(0, first), text.slice(first + 1, second), text.slice(second + 1)];
  if (!validKeyName(name)) throw new VerifyError(`verifier key has an invalid name ${JSON.stringify(name)}`);
  if (!/^[0-9a-f]{8}$/.test(id)) throw new VerifyError(`verifier key id ${JSON.stringify(id)} is not 8 lowercase hex digits`);
  const bytes = b64decodeStrict(material, "verifier key material");
  if (bytes.length === 0 || bytes[0] !== type) {
    throw new VerifyError(`verifier key ${JSON.stringify(name)} is not of signature type 0x${type.toString(16).padStart(2, "0")}`);
  }
  const publicKey = bytes.subarray(1);
  if (publicKey.length !== 32) {
    throw new VerifyError(`verifier key ${JSON.stringify(name)} holds ${publicKey.length} key bytes, not 32`);
  }
  if (keyIdOf(name, type, publicKey) !== id) {
    throw new VerifyError(`verifier key ${JSON.stringify(name)} states key id ${id}, its key derives another`);
  }
  return { name, keyId: id, publicKey: new Uint8Array(publicKey), vkey: text, type };
}

/** @type {Map<string, Promise<CryptoKey | null>>} */
const IMPORTED = new Map();

/** @param {Uint8Array} publicKey @returns {Promise<CryptoKey | null>} the WebCrypto key, null if unusable */
function imported(publicKey) {
  const id = hex(publicKey);
  let key = IMPORTED.get(id);
  if (key === undefined) {
    key = globalThis.crypto.subtle
      .importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"])
      .catch(() => null);
    if (IMPORTED.size > 4096) IMPORTED.clear();
    IMPORTED.set(id, key);
  }
  return key;
}

/**
 * Whether `signature` is the Ed25519 signature of `message` under `publicKey` (RFC 8032, WebCrypto).
 * @param {Uint8Array} publicKey @param {Uint8Array} message @param {Uint8Array} signature
 * @returns {Promise<boolean>}
 */
export async function ed25519Verify(publicKey, message, signature) {
  if (signature.length !== 64) return false;
  const key = await imported(publicKey);
  if (key === null) return false;
  try {
    return await globalThis.crypto.subtle.verify({ name: "Ed25519" }, key, signature, message);
  } catch {
    return false;
  }
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|z|[+-]\d{2}:\d{2})$/;

/**
 * An RFC 3339 time as microseconds since the Unix epoch (fractions below a microsecond dropped).
 * @param {unknown} text @param {string} what
 * @returns {bigint}
 */
export function rfc3339Micros(text, what) {
  const m = typeof text === "string" ? RFC3339.exec(text) : null;
  if (m === null) throw new VerifyError(`${what} ${JSON.stringify(text)} is not an RFC 3339 time`);
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number);
  const ms = Date.UTC(year, month - 1, day, hour, minute, second);
  const check = new Date(ms);
  if (Number.isNaN(ms) || check.getUTCDate() !== day || check.getUTCMonth() !== month - 1 || hour > 23 || minute > 59 || second > 59) {
    throw new VerifyError(`${what} ${JSON.stringify(text)} is not a valid date and time`);
  }
  let micros = BigInt(ms) * 1000n + BigInt((m[7] ?? ".").slice(1).padEnd(6, "0").slice(0, 6) || "0");
  if (m[8] !== "Z" && m[8] !== "z") {
    const offset = (Number(m[8].slice(1, 3)) * 60 + Number(m[8].slice(4, 6))) * 60_000_000;
    micros -= BigInt(m[8][0] === "+" ? offset : -offset);
  }
  return micros;
}

/**
 * Parse the keys a user pins: C2SP verifier keys one a line (`#` comments and blank lines allowed),
 * or a JSON key set with validity ranges as `provledger verify --trusted-keys` also reads
 * (`[{"key", "valid_from", "valid_until"}]`, optionally under `"keys"`). Throws an Error naming the line.
 * @param {string} text
 * @returns {TrustedKey[]}
 */
export function parseKeyFile(text) {
  if (typeof text !== "string") throw new VerifyError("the key file is not text");
  if (text.length > 1 << 20) throw new VerifyError("the key file is over 1 MiB: it is not a list of keys");
  const trimmed = text.trimStart();
  if (trimmed.startsWith("[") || trimmed.startsWith("{")) return parseKeySet(text);
  /** @type {TrustedKey[]} */
  const keys = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i].trim();
    if (!line || line.startsWith("#")) continue;
    try {
      keys.push({ ...parseVerifierKey(line), validFrom: 0n, validUntil: null, role: null });
    } catch (error) {
      throw new VerifyError(`line ${i + 1} is not a C2SP verifier key: ${/** @type {Error} */ (error).message}`);
    }
  }
  if (!keys.length) throw new VerifyError("the key file holds no key: nothing could verify (one C2SP verifier key a line)");
  return keys;
}

/** @param {string} text @returns {TrustedKey[]} */
function parseKeySet(text) {
  let document;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new VerifyError(`the key set is not JSON: ${/** @type {Error} */ (error).message}`);
  }
  const entries = Array.isArray(document) ? document : document?.keys;
  if (!Array.isArray(entries) || !entries.length || entries.length > 1024) {
    throw new VerifyError('a JSON key set is a non-empty list of {"key", "valid_from", "valid_until"}');
  }
  return entries.map((entry, i) => pinnedEntry(entry, `key set entry ${i}`));
}

/**
 * One pinned key: a verifier key string, or a key set entry `{key, valid_from, valid_until}`
 * (microseconds, as `provledger verify` reads them).
 * @param {unknown} entry @param {string} where
 * @returns {TrustedKey}
 */
export function pinnedEntry(entry, where) {
  if (typeof entry === "string") return { ...parseVerifierKey(entry), validFrom: 0n, validUntil: null, role: null };
  const e = /** @type {Record<string, unknown>} */ (entry);
  const from = e?.valid_from ?? 0;
  const until = e?.valid_until ?? null;
  if (typeof e?.key !== "string" || !Number.isSafeInteger(from) || !(until === null || Number.isSafeInteger(until))) {
    throw new VerifyError(`${where} is not {key, valid_from, valid_until}`);
  }
  const range = { validFrom: BigInt(/** @type {number} */ (from)), validUntil: until === null ? null : BigInt(/** @type {number} */ (until)) };
  if (range.validUntil !== null && range.validUntil <= range.validFrom) {
    throw new VerifyError(`${where} is valid until ${until}, not after its start ${from}`);
  }
  return { ...parseVerifierKey(e.key), ...range, role: null };
}

/**
 * One `/v1/keys` item: its role (`sealer` signs blocks and shard checkpoints, `anchorer` signs
 * statements), its verifier key, and its range as RFC 3339 times. The key MUST match `public_key`.
 * @param {unknown} item @param {number} i
 * @returns {TrustedKey}
 */
export function serverEntry(item, i) {
  const e = /** @type {Record<string, unknown>} */ (item);
  const where = `server key ${i}`;
  if (typeof e !== "object" || e === null || (e.role !== "sealer" && e.role !== "anchorer")) {
    throw new VerifyError(`${where} has no role sealer or anchorer`);
  }
  const key = parseVerifierKey(e.verifier_key);
  if (e.public_key !== undefined && !equal(b64decodeStrict(e.public_key, `${where} public_key`), key.publicKey)) {
    throw new VerifyError(`${where}: public_key is not the key of its verifier_key`);
  }
  const validFrom = rfc3339Micros(e.valid_from, `${where} valid_from`);
  const validUntil = e.valid_until === null || e.valid_until === undefined ? null : rfc3339Micros(e.valid_until, `${where} valid_until`);
  if (validUntil !== null && validUntil <= validFrom) throw new VerifyError(`${where}: valid_until is not after valid_from`);
  return { ...key, validFrom, validUntil, role: String(e.role) };
}

/** @param {TrustedKey} key @param {bigint} at @returns {boolean} */
export function validAt(key, at) {
  return key.validFrom <= at && (key.validUntil === null || at < key.validUntil);
}

/** @param {TrustedKey} key @returns {string} `name (id hex) valid [from, until)` */
export function describeKey(key) {
  return `${key.name} (id ${key.keyId}) valid [${key.validFrom}, ${key.validUntil ?? "open"})`;
}
