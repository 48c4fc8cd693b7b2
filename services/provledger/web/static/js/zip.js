// A store-only ZIP writer: enough to hand a user one file holding an evidence set, with no library.
//
// SPEC: PKWARE APPNOTE.TXT 6.3.10: each entry is a local file header (4.3.7), its data, then a
// central directory header per entry (4.3.12) and the end of central directory record (4.3.16).
// Compression method 0 is "stored" (4.4.5); "crc-32: [...] magic number 0xdebb20e3 (little
// endian)", i.e. the reflected polynomial 0xEDB88320 (4.4.7); general purpose bit 11 "Language
// encoding flag (EFS). If this bit is set, the filename and comment fields for this file MUST be
// encoded using UTF-8" (4.4.4). No ZIP64: more than 65,535 entries or 4 GiB is refused, not
// silently wrapped, since an evidence set that large is not one a browser should build in memory.

const TABLE = new Uint32Array(256).map((_, n) => {
  let c = n;
  for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/**
 * The CRC-32 (ISO-HDLC, as ZIP and gzip use it) of some bytes, as an unsigned number.
 * @param {Uint8Array} bytes
 * @returns {number}
 */
export function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const UTF8_NAMES = 0x0800;
const VERSION = 20; // 2.0: the version stored entries and folders need (APPNOTE 4.4.3.2)
const MAX16 = 0xffff;
const MAX32 = 0xffffffff;

/** @param {Date} when @returns {[number, number]} DOS time and date (APPNOTE 4.4.6), 1980 at the earliest. */
function dosTime(when) {
  const year = Math.min(Math.max(when.getUTCFullYear(), 1980), 2107);
  const time = (when.getUTCHours() << 11) | (when.getUTCMinutes() << 5) | (when.getUTCSeconds() >> 1);
  return [time, ((year - 1980) << 9) | ((when.getUTCMonth() + 1) << 5) | when.getUTCDate()];
}

/** @param {string} name @returns {Uint8Array} the name's UTF-8 bytes, after refusing an unsafe path. */
function entryName(name) {
  const parts = name.split("/");
  if (!name || name.startsWith("/") || name.includes("\\") || /[\u0000-\u001f]/.test(name) ||
      parts.some((part) => part === "" || part === "." || part === "..")) {
    throw new Error(`zip entry name ${JSON.stringify(name)} is not a plain relative path`);
  }
  const bytes = new TextEncoder().encode(name);
  if (bytes.length > MAX16) throw new Error(`zip entry name of ${bytes.length} bytes is too long`);
  return bytes;
}

/**
 * One ZIP archive holding the files as given, stored uncompressed.
 * @param {Array<{name: string, data: Uint8Array | string}>} files  names are relative paths, each once
 * @param {Date} [when]  the modification time every entry carries
 * @returns {Uint8Array}
 */
export function zipStore(files, when = new Date()) {
  if (files.length > MAX16) throw new Error(`a zip without ZIP64 holds at most ${MAX16} files`);
  const [time, date] = dosTime(when);
  const seen = new Set();
  const locals = [];
  const centrals = [];
  let offset = 0;
  for (const file of files) {
    if (seen.has(file.name)) throw new Error(`zip entry ${JSON.stringify(file.name)} given twice`);
    seen.add(file.name);
    const name = entryName(file.name);
    const data = typeof file.data === "string" ? new TextEncoder().encode(file.data) : file.data;
    // Fields shared by both headers from "version needed" on (APPNOTE 4.3.7 and 4.3.12).
    const common = [VERSION, UTF8_NAMES, 0, time, date, crc32(data), data.length, data.length, name.length, 0];
    const local = record(0x04034b50, common, [], name);
    if (offset + local.length + data.length > MAX32) throw new Error("a zip without ZIP64 stays under 4 GiB");
    locals.push(local, data);
    centrals.push(record(0x02014b50, [VERSION, ...common], [0, 0, 0, 0, offset], name));
    offset += local.length + data.length;
  }
  const size = centrals.reduce((sum, c) => sum + c.length, 0);
  const end = record(0x06054b50, [0, 0, files.length, files.length, size, offset, 0], [], new Uint8Array());
  return concat([...locals, ...centrals, end]);
}

// Widths of each record's fields after its signature: 2 or 4 bytes, little-endian (APPNOTE 4.3).
const WIDTHS = {
  0x04034b50: [2, 2, 2, 2, 2, 4, 4, 4, 2, 2],
  0x02014b50: [2, 2, 2, 2, 2, 2, 4, 4, 4, 2, 2, 2, 2, 2, 4, 4],
  0x06054b50: [2, 2, 2, 2, 4, 4, 2],
};

/** @param {number} signature @param {number[]} fields @param {number[]} tail @param {Uint8Array} name */
function record(signature, fields, tail, name) {
  const values = [...fields, ...tail];
  const widths = WIDTHS[/** @type {keyof typeof WIDTHS} */ (signature)];
  const fixed = 4 + widths.reduce((a, b) => a + b, 0);
  const out = new Uint8Array(fixed + name.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, signature, true);
  let at = 4;
  widths.forEach((width, i) => {
    if (width === 2) view.setUint16(at, values[i], true);
    else view.setUint32(at, values[i], true);
    at += width;
  });
  out.set(name, fixed);
  return out;
}

/** @param {Uint8Array[]} parts @returns {Uint8Array} */
function concat(parts) {
  const out = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
