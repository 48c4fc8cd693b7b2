// Bytes, strict base64, UTF-8 and SHA-256 for the evidence verifier: the few helpers every check
// shares, on plain Uint8Arrays, with WebCrypto (`globalThis.crypto.subtle`) for hashing so the same
// code runs in the browser and in Node 20.

/** A check that does not hold: its message is the reason a verdict shows. */
export class VerifyError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = "VerifyError";
  }
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64_VALUE = new Int16Array(128).fill(-1);
for (let i = 0; i < B64.length; i += 1) B64_VALUE[B64.charCodeAt(i)] = i;

/**
 * Standard base64 (RFC 4648 section 4) with padding.
 * @param {Uint8Array} bytes
 * @returns {string}
 */
export function b64encode(bytes) {
  let out = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    out += B64[(n >> 18) & 63] + B64[(n >> 12) & 63];
    out += i + 1 < bytes.length ? B64[(n >> 6) & 63] : "=";
    out += i + 2 < bytes.length ? B64[n & 63] : "=";
  }
  return out;
}

/**
 * Standard base64 with padding, refusing any non-canonical spelling of the same bytes, as the
 * Python core's `b64decode_strict` does (so a bundle cannot carry two spellings of one hash).
 * @param {unknown} text
 * @param {string} what named in the error
 * @returns {Uint8Array}
 */
export function b64decodeStrict(text, what) {
  if (typeof text !== "string") throw new VerifyError(`${what} is missing or not a string`);
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) {
    throw new VerifyError(`${what} is not valid base64`);
  }
  const pad = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
  const out = new Uint8Array((text.length / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < text.length; i += 4) {
    const v = [0, 1, 2, 3].map((k) => (text[i + k] === "=" ? 0 : B64_VALUE[text.charCodeAt(i + k)]));
    const n = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
    for (const shift of [16, 8, 0]) if (o < out.length) out[o++] = (n >> shift) & 255;
  }
  if (b64encode(out) !== text) throw new VerifyError(`${what} is not canonical base64`);
  return out;
}

/** @param {Uint8Array} bytes @returns {string} lowercase hex */
export function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** @param {...Uint8Array} parts @returns {Uint8Array} */
export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** @param {Uint8Array} a @param {Uint8Array} b @returns {boolean} */
export function equal(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i += 1) if (a[i] !== b[i]) return false;
  return true;
}

const ENCODER = new TextEncoder();
const DECODER = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** @param {string} text @returns {Uint8Array} */
export function utf8(text) {
  return ENCODER.encode(text);
}

/**
 * Strict UTF-8: invalid bytes are an error, never replaced.
 * @param {Uint8Array} bytes
 * @param {string} what
 * @returns {string}
 */
export function fromUtf8(bytes, what) {
  try {
    return DECODER.decode(bytes);
  } catch {
    throw new VerifyError(`${what} is not valid UTF-8`);
  }
}

/** @param {string} text @returns {boolean} whether the string encodes as UTF-8 (no lone surrogate) */
export function wellFormed(text) {
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text);
}

/**
 * SHA-256 through WebCrypto.
 * @param {Uint8Array} data
 * @returns {Promise<Uint8Array>}
 */
export async function sha256(data) {
  return new Uint8Array(await globalThis.crypto.subtle.digest("SHA-256", data));
}

/**
 * Big-endian unsigned integer of some bytes.
 * @param {Uint8Array} bytes
 * @returns {bigint}
 */
export function uintBE(bytes) {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  return n;
}

/**
 * Big-endian bytes of an unsigned integer.
 * @param {bigint} value
 * @param {number} size
 * @returns {Uint8Array}
 */
export function toBE(value, size) {
  const out = new Uint8Array(size);
  let n = value;
  for (let i = size - 1; i >= 0; i -= 1) {
    out[i] = Number(n & 255n);
    n >>= 8n;
  }
  return out;
}

/**
 * A JSON value's kind for error messages: "null", "array", or its typeof.
 * @param {unknown} value
 * @returns {string}
 */
export function kindOf(value) {
  return value === null ? "null" : Array.isArray(value) ? "array" : typeof value;
}
