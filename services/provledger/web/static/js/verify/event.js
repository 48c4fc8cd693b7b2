// Canonical event bytes: the Avro binary of `provledger.canonical.CanonicalEvent` (schemas/v1),
// decoded so the verifier can check that they hold the event id the bundle names, and show what
// the verified bytes state. Avro 1.11 "Binary Encoding": long is a zig-zag varint, string is a long
// length then UTF-8, enum an int index, union a long branch index, array blocks of a long count
// (negative: followed by the block's byte size) ending with 0.

import { VerifyError, fromUtf8 } from "./bytes.js";

const EVENT_TYPES = ["START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER", "INFERENCE"];
/** What `provledger.events.ids` mints and the sealer accepts: a lowercase UUIDv7 of the RFC variant. */
const UUID7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

class Reader {
  /** @param {Uint8Array} bytes */
  constructor(bytes) {
    this.bytes = bytes;
    this.at = 0;
  }

  /** @returns {bigint} */
  long() {
    let n = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (this.at >= this.bytes.length) throw new VerifyError("the canonical bytes end inside a number");
      const b = this.bytes[this.at++];
      n |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) {
        if (n >= 1n << 64n) break;
        return (n >> 1n) ^ -(n & 1n);
      }
    }
    throw new VerifyError("the canonical bytes hold a number longer than 64 bits");
  }

  /** @param {string} what @returns {number} a count that fits in what is left */
  count(what) {
    const n = this.long();
    if (n < 0n || n > BigInt(this.bytes.length - this.at)) throw new VerifyError(`the canonical bytes hold a bad ${what} length ${n}`);
    return Number(n);
  }

  /** @param {string} what @returns {true} after stepping over a `bytes` value */
  skip(what) {
    this.at += this.count(what);
    return true;
  }

  /** @param {string} what @returns {string} */
  string(what) {
    const size = this.count(what);
    this.at += size;
    return fromUtf8(this.bytes.subarray(this.at - size, this.at), `the canonical ${what}`);
  }

  /** @template T @param {string} what @param {() => T} read @returns {T | null} */
  optional(what, read) {
    const branch = this.long();
    if (branch === 0n) return null;
    if (branch === 1n) return read();
    throw new VerifyError(`the canonical ${what} has union branch ${branch}`);
  }

  /** @template T @param {string} what @param {() => T} read @returns {T[]} */
  array(what, read) {
    const items = [];
    for (;;) {
      let n = this.long();
      if (n === 0n) return items;
      if (n < 0n) {
        n = -n;
        this.count(`${what} block`);
      }
      if (n > BigInt(this.bytes.length - this.at)) throw new VerifyError(`the canonical ${what} claim ${n} items`);
      for (let i = 0n; i < n; i += 1n) items.push(read());
    }
  }
}

/**
 * @typedef {{namespace: string, name: string, digest: string, kind: string, version: string | null}} ArtifactRef
 * @typedef {object} CanonicalEvent
 * @property {string} event_id
 * @property {string} event_time microseconds since the epoch, as a decimal string
 * @property {string} event_type
 * @property {string} producer
 * @property {{run_id: string, parent_run_id: string | null}} run
 * @property {{namespace: string, name: string}} job
 * @property {ArtifactRef[]} inputs
 * @property {ArtifactRef[]} outputs
 * @property {{key: string, value: string}[]} attributes
 * @property {string | null} payload_digest
 * @property {boolean} openlineage whether the original RunEvent is kept (its bytes are not decoded here)
 */

/**
 * Decode canonical event bytes; every byte must be part of the event.
 * @param {Uint8Array} bytes
 * @returns {CanonicalEvent}
 */
export function decodeCanonicalEvent(bytes) {
  const r = new Reader(bytes);
  const artifact = () => ({
    namespace: r.string("artifact namespace"),
    name: r.string("artifact name"),
    digest: r.string("artifact digest"),
    kind: r.string("artifact kind"),
    version: r.optional("artifact version", () => r.string("artifact version")),
  });
  const eventId = r.string("event_id");
  const eventTime = r.long();
  const typeIndex = Number(r.long());
  const eventType = EVENT_TYPES[typeIndex];
  if (eventType === undefined) throw new VerifyError(`the canonical event_type index ${typeIndex} is not an event type`);
  const event = {
    event_id: eventId,
    event_time: String(eventTime),
    event_type: eventType,
    producer: r.string("producer"),
    run: { run_id: r.string("run_id"), parent_run_id: r.optional("parent_run_id", () => r.string("parent_run_id")) },
    job: { namespace: r.string("job namespace"), name: r.string("job name") },
    inputs: r.array("inputs", artifact),
    outputs: r.array("outputs", artifact),
    attributes: r.array("attributes", () => ({ key: r.string("attribute key"), value: r.string("attribute value") })),
    payload_digest: r.optional("payload_digest", () => r.string("payload_digest")),
    openlineage: r.optional("openlineage", () => r.skip("openlineage")) !== null,
  };
  if (r.at !== bytes.length) throw new VerifyError(`the canonical bytes have ${bytes.length - r.at} bytes after the event`);
  if (!UUID7.test(event.event_id)) throw new VerifyError(`the canonical bytes hold event_id ${JSON.stringify(event.event_id.slice(0, 60))}, not a lowercase UUIDv7`);
  return event;
}
