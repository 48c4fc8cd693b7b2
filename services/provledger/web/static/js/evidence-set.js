// Evidence to take away: one bundle, or an evidence set of the whole view, as a browser download.
//
// What the page checked in the browser, a user can check again offline with `provledger verify`,
// without the page, the API or its database. An evidence set is a ZIP holding the graph the view
// drew, each edge's evidence bundle once, the verifier keys and a README with the exact commands.
// Trust still comes only from the user: keys.txt holds the keys the user pinned when there are
// any, and otherwise the server's own keys, said so in the file and the README; hints for the
// timestamp roots and the witness policy say where their trust must come from.

import { parseNote } from "./verify/note.js";
import { zipStore } from "./zip.js";

/**
 * @typedef {{event_id: string, recorded_at?: string, evidence?: string}} RecordedBy
 * @typedef {{relation: string, source: string, target: string, recorded: RecordedBy}} LineageEdge
 * @typedef {{role: string, name: string, key_id: string, verifier_key: string,
 *   valid_from: string, valid_until: string | null}} ServerKey  an item of GET /v1/keys
 * @typedef {{pinned?: Array<string | {vkey: string}>, server?: ServerKey[]}} EvidenceKeys
 * @typedef {{event?: {event_id?: unknown}, checkpoint?: unknown, receipts?: unknown, keys?: unknown}} Bundle
 * @typedef {Map<string, Bundle> | Record<string, Bundle> | Bundle[]} Bundles
 * @typedef {{name: string, data: string}} ArchiveFile
 * @typedef {{graph?: {edges?: LineageEdge[]} | null, edges?: LineageEdge[], bundles?: Bundles,
 *   keys: EvidenceKeys, logOrigin?: string, apiBase?: string, when?: Date,
 *   getJSON?: (path: string) => Promise<any>}} EvidenceSetRequest
 */

const EVENT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
// SPEC: C2SP signed-note: a verifier key is `<name>+<hex key id>+<base64(type || public key)>`,
// names "MUST be non-empty, well-formed UTF-8 containing neither Unicode spaces nor plus".
const VKEY = /^([^\s+]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/]+={0,2})$/;
const ED25519 = 0x01; // signs notes: the sealer's and the anchorer's keys
const COSIGNATURE = 0x04; // C2SP tlog-cosignature: witnesses' keys
const COSIGNATURE_BYTES = 8 + 64; // SPEC: C2SP tlog-cosignature, "u64 timestamp || ed25519_signature[64]"

/** @param {unknown} text @returns {{vkey: string, name: string, type: number} | null} */
export function verifierKeyParts(text) {
  const match = typeof text === "string" ? VKEY.exec(text.trim()) : null;
  if (!match) return null;
  try {
    const material = atob(match[3]);
    return material.length === 33 ? { vkey: match[0], name: match[1], type: material.charCodeAt(0) } : null;
  } catch {
    return null;
  }
}

/** @param {unknown} id @returns {id is string} */
function isEventId(id) {
  return typeof id === "string" && EVENT_ID.test(id);
}

/** @param {string} text @returns {string} `text` as one single-quoted shell word. */
function shellWord(text) {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

/** @param {Bundles | undefined} bundles @returns {Map<string, Bundle>} by the event id each answers for */
function byEventId(bundles) {
  if (bundles instanceof Map) return new Map(bundles);
  if (Array.isArray(bundles)) {
    return new Map(bundles.map((b) => [String(b?.event?.event_id), b]));
  }
  return new Map(Object.entries(bundles ?? {}));
}

/**
 * keys.txt: the pinned signing keys when the user pinned any, else the server's, marked as such;
 * and, when the keys have validity ranges, the same keys as a JSON key set with them (keys.json,
 * `[{key, valid_from, valid_until}]` in microseconds, as `provledger verify --trusted-keys` reads),
 * which lets verify's key-time check hold a retired key to its range.
 * @param {EvidenceKeys} keys @param {string} logOrigin
 * @returns {{text: string, json: string | null, pinned: boolean, witnesses: string[]}}
 *   witnesses: pinned cosigner keys
 */
export function keysFile(keys, logOrigin) {
  const given = (keys.pinned ?? []).map((k) => ({ key: k, parts: verifierKeyParts(typeof k === "string" ? k : k?.vkey) }));
  const signers = given.filter(({ parts }) => parts?.type === ED25519);
  const witnesses = given.filter(({ parts }) => parts?.type === COSIGNATURE).map(({ parts }) => /** @type {{vkey: string}} */ (parts).vkey);
  const head = [`# provledger verifier keys for the log ${logOrigin}`];
  if (signers.length > 0) {
    head.push("# Pinned by you in the explorer page: the keys you chose to trust.");
    const ranged = signers.map(({ key, parts }) => {
      const range = typeof key === "string" ? {} : /** @type {{validFrom?: unknown, validUntil?: unknown}} */ (key);
      return { key: /** @type {{vkey: string}} */ (parts).vkey, valid_from: Number.isSafeInteger(range.validFrom) ? range.validFrom : 0,
        valid_until: Number.isSafeInteger(range.validUntil) ? range.validUntil : null };
    });
    const json = ranged.some((k) => k.valid_from !== 0 || k.valid_until !== null) ? keySetJson(ranged) : null;
    return { text: [...head, ...ranged.map((k) => k.key), ""].join("\n"), json, pinned: true, witnesses };
  }
  const lines = [];
  /** @type {Array<{key: string, valid_from: number | null, valid_until: number | null}>} */
  const ranged = [];
  // A range that cannot be read exactly is no range to hold a key to: then no keys.json at all.
  let readable = true;
  for (const key of keys.server ?? []) {
    const parts = verifierKeyParts(key?.verifier_key);
    if (parts?.type !== ED25519) continue;
    const until = typeof key.valid_until === "string" ? key.valid_until : "now";
    lines.push(`# ${oneLine(key.role)} key, in use from ${oneLine(key.valid_from)} until ${oneLine(until)}`, parts.vkey);
    const entry = { key: parts.vkey, valid_from: rfc3339Micros(key.valid_from),
      valid_until: key.valid_until === null ? null : rfc3339Micros(key.valid_until) };
    readable &&= entry.valid_from !== null && (key.valid_until === null || entry.valid_until !== null);
    ranged.push(entry);
  }
  if (lines.length === 0) {
    throw new Error("no verifier keys to put in the evidence set: pin the ledger's keys, or let the page read /v1/keys");
  }
  head.push(
    "# UNPINNED: these are the server's own keys (GET /v1/keys); the server vouches for itself with them.",
    "# Compare them with the keys your operator published, or replace this file with those, before relying on it.",
  );
  return { text: [...head, ...lines, ""].join("\n"), json: readable ? keySetJson(ranged) : null, pinned: false, witnesses };
}

/** @param {object[]} entries @returns {string} */
function keySetJson(entries) {
  return `${JSON.stringify({ keys: entries }, null, 2)}\n`;
}

/**
 * RFC 3339 time as integer microseconds since the epoch, exactly (a JavaScript Date stops at
 * milliseconds, and a range rounded the wrong way would let a block through or shut one out).
 * @param {unknown} text @returns {number | null}
 */
export function rfc3339Micros(text) {
  const match = typeof text === "string"
    ? /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(text) : null;
  const millis = match ? Date.parse(`${match[1]}${match[3]}`) : Number.NaN;
  if (!match || Number.isNaN(millis)) return null;
  return millis * 1000 + Number((match[2] ?? "").padEnd(6, "0").slice(0, 6));
}

/** @param {unknown} value @returns {string} a server value fit for one comment line */
function oneLine(value) {
  return String(value).replace(/[\u0000-\u001f\u007f]/g, "?");
}

/** @param {Bundle} bundle @param {string} type @returns {boolean} */
function hasReceipt(bundle, type) {
  return Array.isArray(bundle.receipts) && bundle.receipts.some((r) => r?.type === type);
}

/**
 * A witness policy to start from (Sigsum policy format, C2SP vkeys): every witness whose
 * cosignature line is on a checkpoint of these bundles' `tlog-witness` receipts, all required.
 * A cosignature line names its witness and key id but carries no public key, so each key is one
 * the user pinned (matched by name and key id) or a placeholder the user replaces with the key
 * the witness's operator publishes: the server cannot be the one to say which keys to trust.
 * @param {Bundle[]} bundles @param {string[]} pinnedWitnesses  pinned cosigner vkeys
 * @returns {string | null} null when no bundle carries a witness cosignature
 */
export function witnessPolicyHint(bundles, pinnedWitnesses) {
  const pinned = new Map(pinnedWitnesses.map((vkey) => [vkey.split("+").slice(0, 2).join("+"), vkey]));
  /** @type {Map<string, string>} name -> key id, of every cosigner */
  const cosigners = new Map();
  for (const bundle of bundles) {
    for (const receipt of Array.isArray(bundle.receipts) ? bundle.receipts : []) {
      if (receipt?.type !== "tlog-witness") continue;
      try {
        for (const line of parseNote(receipt.checkpoint).signatures) {
          if (line.signature.length === COSIGNATURE_BYTES) cosigners.set(line.name, line.keyId);
        }
      } catch {
        // An unreadable receipt names no witness; `provledger verify` reports it.
      }
    }
  }
  if (cosigners.size === 0) return null;
  const names = [...cosigners.keys()].sort();
  const key = (/** @type {string} */ name) => {
    const id = `${name}+${cosigners.get(name)}`;
    return pinned.get(id) ?? `REPLACE-WITH-THE-KEY-OF-${id}`;
  };
  const lines = [
    "# Witnesses that cosigned checkpoints covering these bundles; all of them must cosign.",
    "# A cosignature names its witness and key id, not its key: replace each REPLACE-WITH-THE-KEY-OF-...",
    "# with that witness's verifier key as its operator publishes it (`provledger witness keys`).",
    ...names.map((name) => `witness ${name} ${key(name)}`),
    ...(names.length === 1 ? [`quorum ${names[0]}`] : [`group cosigners all ${names.join(" ")}`, "quorum cosigners"]),
  ];
  return `${lines.join("\n")}\n`;
}

/** @param {unknown} origin @returns {boolean} whether it can be a log origin (one word, no control characters) */
function isOrigin(origin) {
  return typeof origin === "string" && /^[^\s\u0000-\u001f]+$/.test(origin);
}

/**
 * The one log origin the bundles' shard checkpoints name (`<origin>/shard/<n>`), or null.
 * @param {Bundle[]} bundles @returns {string | null}
 */
function bundlesOrigin(bundles) {
  const origins = new Set(bundles.map((b) => {
    const first = typeof b.checkpoint === "string" ? b.checkpoint.split("\n", 1)[0] : "";
    return /^(.+)\/shard\/(0|[1-9][0-9]*)$/.exec(first)?.[1];
  }));
  const [origin] = origins;
  return origins.size === 1 && isOrigin(origin) ? /** @type {string} */ (origin) : null;
}

/**
 * The files of an evidence set, without building the archive.
 * Without a log origin from the page, the one every bundle's checkpoint names is used, and the
 * README says it is the server's word.
 * @param {EvidenceSetRequest} request
 * @returns {{files: ArchiveFile[], included: string[], missing: string[], invalid: number}}
 *   included: event ids with a bundle; missing: event ids without one; invalid: edges naming no event id
 */
export function evidenceSetFiles({ graph, edges, bundles, keys, logOrigin, apiBase = "", when = new Date() }) {
  const shown = edges ?? graph?.edges ?? [];
  const ids = [...new Set(shown.map((edge) => edge?.recorded?.event_id))];
  const wanted = ids.filter(isEventId);
  const found = byEventId(bundles);
  const included = wanted.filter((id) => found.has(id));
  const missing = wanted.filter((id) => !found.has(id));
  const chosen = included.map((id) => /** @type {Bundle} */ (found.get(id)));
  const given = logOrigin !== undefined && logOrigin !== "";
  if (given && !isOrigin(logOrigin)) {
    throw new Error(`the log origin ${JSON.stringify(logOrigin)} is not one word, as in the checkpoints' first line`);
  }
  const origin = given ? /** @type {string} */ (logOrigin) : bundlesOrigin(chosen);
  if (origin === null) {
    throw new Error("the evidence set needs the ledger's log origin: enter it beside your pinned keys");
  }
  const keyFile = keysFile(keys, origin);
  const policy = witnessPolicyHint(chosen, keyFile.witnesses);
  const files = [
    { name: "README.md", data: readme({ included, missing, invalid: ids.length - wanted.length, edges: shown.length,
      logOrigin: origin, originGiven: given, apiBase, when, pinned: keyFile.pinned, policy: policy !== null,
      ranges: keyFile.json !== null,
      timestamps: chosen.some((b) => hasReceipt(b, "rfc3161")), chain: chosen.some((b) => hasReceipt(b, "evm")) }) },
    { name: "graph.json", data: `${JSON.stringify({ ...(graph ?? {}), edges: shown }, null, 2)}\n` },
    { name: "keys.txt", data: keyFile.text },
    ...(keyFile.json === null ? [] : [{ name: "keys.json", data: keyFile.json }]),
    ...included.map((id, i) => ({ name: `bundles/${id}.json`, data: `${JSON.stringify(chosen[i], null, 2)}\n` })),
  ];
  if (policy !== null) files.push({ name: "witness-policy.txt", data: policy });
  return { files, included, missing, invalid: ids.length - wanted.length };
}

/**
 * @param {{included: string[], missing: string[], invalid: number, edges: number, logOrigin: string,
 *   originGiven: boolean, apiBase: string, when: Date, pinned: boolean, policy: boolean, timestamps: boolean,
 *   ranges: boolean, chain: boolean}} set
 * @returns {string}
 */
function readme(set) {
  const origin = shellWord(set.logOrigin);
  const verify = (/** @type {string} */ file, /** @type {string} */ id) =>
    `provledger verify ${file} --trusted-keys keys.txt --log-origin ${origin} --event-id ${id}`;
  const out = [
    "# provledger evidence set",
    "",
    `Saved by the provledger explorer page on ${set.when.toISOString()}${set.apiBase ? ` from ${set.apiBase}` : ""}.`,
    `It holds the lineage graph the page showed (\`graph.json\`, ${set.edges} edges), the evidence bundle of`,
    `each event that recorded an edge, once (\`bundles/<event_id>.json\`, ${set.included.length} bundles), and the`,
    "verifier keys (`keys.txt`). Each bundle proves its event offline: `provledger verify` needs no network.",
    "",
    "## Keys",
    "",
    set.pinned
      ? "`keys.txt` holds the keys you pinned in the page: a verification proves the events were sealed by them."
      : "`keys.txt` holds the **server's own keys** (`GET /v1/keys`): you pinned none, so the server vouches for\n" +
        "itself. Compare them with the keys your operator published, or replace `keys.txt` with those, first.",
    ...(set.ranges ? ["",
      "`keys.json` holds the same keys with their validity ranges. Pass it as `--trusted-keys keys.json` to hold",
      "each key to its range: a block signed by a retired key then passes only with a receipt timed before the",
      "key's end (`--tsa-roots` or `--witness-policy`, below), since a block's own seal time is its signer's claim."] : []),
    ...(set.originGiven ? [] : ["",
      `The log origin \`${set.logOrigin}\` is the one the bundles' checkpoints name, i.e. the server's word: if your`,
      "operator states another (`PROVLEDGER_LOG_ORIGIN`), use theirs in the commands below."]),
    "",
    "## Verify every bundle",
    "",
    "```sh",
    "failed=0",
    "for f in bundles/*.json; do",
    `  ${verify('"$f"', '"$(basename "$f" .json)"')} || failed=$((failed + 1))`,
    "done",
    'echo "$failed bundle(s) NOT verified"; test "$failed" -eq 0',
    "```",
    "",
    "Exit 0 means every check that ran passed, for the log and the event each file is named after.",
    "",
    "## One bundle at a time",
    "",
    "```sh",
    ...set.included.map((id) => verify(`bundles/${id}.json`, id)),
    "```",
  ];
  if (set.timestamps) {
    out.push("", "## Timestamps", "",
      "Some bundles carry RFC 3161 timestamps of the anchored statement. To check them too, add",
      "`--tsa-roots tsa-roots.pem --require rfc3161`, with the PEM roots of the timestamp authorities you trust,",
      "obtained from them and never from a bundle (`provledger up` keeps its local TSA's in `.provledger/tsa/ca.pem`).");
  }
  if (set.chain) {
    out.push("", "## Ethereum anchors", "",
      "Some bundles carry receipts of an Ethereum transaction anchoring the statement. To check them too, add",
      "`--evm-rpc URL` (a JSON-RPC node of the chain that you choose) or `--evm-trusted-block N:HASH` (a block you",
      "trust, checked offline), and `--require evm`.");
  }
  if (set.policy) {
    out.push("", "## Witnesses", "",
      "Some bundles carry checkpoints cosigned by witnesses. `witness-policy.txt` names those witnesses; put in",
      "the keys their operators publish (see its comments), then add `--witness-policy witness-policy.txt --require witness`.");
  }
  if (set.missing.length > 0 || set.invalid > 0) {
    out.push("", "## Not included", "");
    if (set.invalid > 0) out.push(`${set.invalid} edge(s) named no valid event id and have no bundle here.`);
    if (set.missing.length > 0) {
      out.push("The page had not fetched these bundles; fetch each with your token, then verify it as above:", "",
        "```sh", ...set.missing.map((id) =>
          `curl -fsS -H "Authorization: Bearer $TOKEN" ${shellWord(`${set.apiBase}/v1/events/${id}/evidence`)} > bundles/${id}.json`),
        "```");
    }
  }
  return `${out.join("\n")}\n`;
}

/**
 * Build the evidence set of a view and hand it to the browser as one ZIP download.
 * Bundles the page has not fetched yet are fetched with `getJSON` when given, else listed in the
 * README with the command that fetches them.
 * @param {EvidenceSetRequest} request
 * @returns {Promise<{filename: string, included: string[], missing: string[]}>}
 */
export async function downloadEvidenceSet(request) {
  const found = byEventId(request.bundles);
  const shown = request.edges ?? request.graph?.edges ?? [];
  if (request.getJSON) {
    for (const id of new Set(shown.map((edge) => edge?.recorded?.event_id))) {
      if (isEventId(id) && !found.has(id)) found.set(id, await request.getJSON(`/v1/events/${id}/evidence`));
    }
  }
  const when = request.when ?? new Date();
  const set = evidenceSetFiles({ ...request, bundles: found, when });
  const stamp = when.toISOString().slice(0, 19).replaceAll(":", "").replace("T", "-");
  const filename = `provledger-evidence-${stamp}.zip`;
  saveFile(zipStore(set.files, when), filename, "application/zip");
  return { filename, included: set.included, missing: set.missing };
}

/**
 * Hand one evidence bundle to the browser as `evidence-<event_id>.json`, exactly what
 * `provledger verify` reads.
 * @param {Bundle} bundle
 * @returns {string} the file name
 */
export function downloadBundle(bundle) {
  const id = bundle?.event?.event_id;
  const filename = isEventId(id) ? `evidence-${id}.json` : "evidence.json";
  saveFile(`${JSON.stringify(bundle, null, 2)}\n`, filename, "application/json");
  return filename;
}

/**
 * Trigger a download of `data` through an object URL and a clicked `<a download>`.
 * @param {Uint8Array | string} data @param {string} filename @param {string} type
 */
function saveFile(data, filename, type) {
  const url = URL.createObjectURL(new Blob([data], { type }));
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  link.style.display = "none";
  document.body.append(link);
  link.click();
  link.remove();
  // Revoked later, not at once: the browser reads the blob after the click's task has ended.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
