// The store-only ZIP writer: CRC-32 against published check values and Node's zlib, and the
// archive's records read back field by field (tests/integration/web/test_evidence_set_archive.py
// also opens one with Python's zipfile).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import zlib from "node:zlib";

import { crc32, zipStore } from "../../services/provledger/web/static/js/zip.js";

const bytes = (/** @type {string} */ text) => new TextEncoder().encode(text);

test("crc32 gives the published check values", () => {
  // The CRC catalogue's check value of CRC-32/ISO-HDLC is over "123456789".
  assert.equal(crc32(bytes("123456789")), 0xcbf43926);
  assert.equal(crc32(bytes("")), 0);
  assert.equal(crc32(bytes("a")), 0xe8b7be43);
  assert.equal(crc32(bytes("The quick brown fox jumps over the lazy dog")), 0x414fa339);
  assert.equal(crc32(new Uint8Array(32)), 0x190a55ad);
  assert.equal(crc32(new Uint8Array(32).fill(0xff)), 0xff6cab0b);
});

test("crc32 agrees with zlib on random data of every small length", () => {
  for (let length = 0; length < 300; length += 1) {
    const data = randomBytes(length);
    assert.equal(crc32(data), zlib.crc32(data), `length ${length}`);
  }
});

/** Read an archive back by its central directory, checking each local header against it. */
function readZip(/** @type {Uint8Array} */ archive) {
  const view = new DataView(archive.buffer, archive.byteOffset, archive.byteLength);
  const end = archive.length - 22;
  assert.equal(view.getUint32(end, true), 0x06054b50, "end of central directory at the very end");
  const count = view.getUint16(end + 10, true);
  assert.equal(view.getUint16(end + 8, true), count);
  const size = view.getUint32(end + 12, true);
  let at = view.getUint32(end + 16, true);
  assert.equal(at + size, end, "the central directory ends where the end record starts");
  const entries = [];
  for (let i = 0; i < count; i += 1) {
    assert.equal(view.getUint32(at, true), 0x02014b50);
    const [flags, method, time, date] = [8, 10, 12, 14].map((o) => view.getUint16(at + o, true));
    const [crc, stored, length] = [16, 20, 24].map((o) => view.getUint32(at + o, true));
    const nameLength = view.getUint16(at + 28, true);
    assert.equal(view.getUint16(at + 30, true) + view.getUint16(at + 32, true), 0, "no extra field or comment");
    const offset = view.getUint32(at + 42, true);
    const name = new TextDecoder().decode(archive.subarray(at + 46, at + 46 + nameLength));
    assert.equal(view.getUint32(offset, true), 0x04034b50);
    assert.equal(view.getUint32(offset + 14, true), crc, "local and central CRC agree");
    assert.equal(view.getUint16(offset + 26, true), nameLength);
    const start = offset + 30 + nameLength;
    const data = archive.subarray(start, start + length);
    assert.equal(stored, length, "stored, not compressed");
    assert.equal(crc32(data), crc);
    entries.push({ name, data, flags, method, time, date });
    at += 46 + nameLength;
  }
  return entries;
}

test("zipStore writes each file stored, with UTF-8 names, CRCs and offsets a reader follows", () => {
  const when = new Date(Date.UTC(2026, 11, 5, 10, 34, 9));
  const archive = zipStore(
    [
      { name: "README.md", data: "# hello\n" },
      { name: "bundles/é.json", data: bytes('{"a": 1}') },
      { name: "empty.txt", data: "" },
    ],
    when,
  );
  const entries = readZip(archive);
  assert.deepEqual(entries.map((e) => e.name), ["README.md", "bundles/é.json", "empty.txt"]);
  assert.equal(new TextDecoder().decode(entries[1].data), '{"a": 1}');
  assert.equal(entries[2].data.length, 0);
  for (const entry of entries) {
    assert.equal(entry.method, 0);
    assert.equal(entry.flags, 0x0800);
    assert.equal(entry.time, (10 << 11) | (34 << 5) | 4); // DOS time counts seconds in twos
    assert.equal(entry.date, ((2026 - 1980) << 9) | (12 << 5) | 5);
  }
});

test("an empty archive is just the end record", () => {
  const archive = zipStore([]);
  assert.equal(archive.length, 22);
  assert.deepEqual(readZip(archive), []);
});

test("zipStore refuses names that could land outside the folder it is unpacked in", () => {
  for (const name of ["", "/etc/passwd", "../up", "a/../../b", "a//b", "./a", "a\\b", "a\nb", "dir/"]) {
    assert.throws(() => zipStore([{ name, data: "x" }]), /not a plain relative path/, JSON.stringify(name));
  }
});

test("zipStore refuses one name given twice", () => {
  assert.throws(() => zipStore([{ name: "a", data: "1" }, { name: "a", data: "2" }]), /given twice/);
});

test("dates before 1980, which DOS time cannot hold, are written as 1980", () => {
  const [entry] = readZip(zipStore([{ name: "a", data: "" }], new Date(0)));
  assert.equal(entry.date >> 9, 0);
});
