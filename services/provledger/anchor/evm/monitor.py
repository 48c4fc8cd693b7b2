"""Follow a ledger's anchors on chain and compare them with the statements it serves.

Everything the ledger's submitter ever anchored is public: ``eth_getLogs`` on the contract's
``Anchored`` topic and the submitter's topic lists it, with no help from the ledger. Each
anchored digest must be SHA-256 of a statement the ledger's API serves under the same number;
anything else means someone holding the submitter's key anchored a statement the ledger does
not own up to, or the ledger's database forgot one. Statements a user holds (a bundle's, or one
shown to them) can be added from a file: two anchored statements conflict when they number one
sequence twice, or name for one shard the same height with different blocks, or a lower height
later (heads only grow).

SPEC: Ethereum JSON-RPC ``eth_getLogs``: "topics: Array of 32 Bytes DATA topics. Topics are
order-dependent"; a log's ``removed`` is "true when the log was removed, due to a chain
reorganization", so such logs are not counted.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx

from provledger.anchor.evm.rpc import JsonRpc, data, quantity
from provledger.errors import ConfigurationError, ServiceUnavailable, VerificationError
from provledger.ledger.checkpoint import Checkpoint, ShardHead, shard_heads
from provledger.ledger.evm_receipt import ANCHORED_TOPIC, origin_hash, statement_digest, to_hex, word
from provledger.ledger.note import parse_note

#: Blocks asked for per eth_getLogs: public nodes cap a query's range (often at 10,000 blocks).
BLOCKS_PER_QUERY: Final = 5_000
#: Statements per API page (its maximum).
API_PAGE: Final = 100
MAX_STATEMENTS_FILE_BYTES: Final = 256 << 20


@dataclass(frozen=True, slots=True)
class AnchoredEvent:
    """One ``Anchored`` log of the submitter: where it is and what it anchors."""

    block_number: int
    tx_hash: str
    origin: bytes
    seq: int
    digest: bytes

    def where(self) -> str:
        """``block N, transaction 0x...`` for reports."""
        return f"block {self.block_number}, transaction {self.tx_hash}"


@dataclass(frozen=True, slots=True)
class Alarm:
    """Something on chain the served statements do not account for, or two that conflict."""

    kind: str
    detail: str


async def anchored_events(
    rpc_url: str,
    contract: bytes,
    submitter: bytes,
    from_block: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> list[AnchoredEvent]:
    """Every ``Anchored`` log ``submitter`` made through ``contract`` from ``from_block`` to the head."""
    events: list[AnchoredEvent] = []
    async with JsonRpc(rpc_url) as rpc:
        head = quantity(await rpc.call("eth_blockNumber"), "block number")
        for start in range(from_block, head + 1, BLOCKS_PER_QUERY):
            end = min(start + BLOCKS_PER_QUERY - 1, head)
            logs = await rpc.call(
                "eth_getLogs",
                {"address": to_hex(contract), "topics": [to_hex(ANCHORED_TOPIC), to_hex(word(submitter))],
                 "fromBlock": hex(start), "toBlock": hex(end)},
            )  # fmt: skip
            if not isinstance(logs, list):
                raise ServiceUnavailable(f"the node at {rpc_url} answered eth_getLogs with no list")
            events += [_event(log) for log in logs if isinstance(log, dict) and not log.get("removed")]
            if progress is not None:
                progress(end - from_block + 1, head - from_block + 1)
    return events


def _event(log: Mapping[str, Any]) -> AnchoredEvent:
    topics = log.get("topics")
    if not isinstance(topics, list) or len(topics) != 4:
        raise ServiceUnavailable("the node returned an Anchored log without its four topics")
    return AnchoredEvent(
        block_number=quantity(log.get("blockNumber"), "log block number"),
        tx_hash=to_hex(data(log.get("transactionHash"), "log transaction hash", 32)),
        origin=data(topics[2], "log origin topic", 32),
        seq=int.from_bytes(data(topics[3], "log seq topic", 32), "big"),
        digest=data(log.get("data"), "log data", 32),
    )


async def served_statements(client: httpx.AsyncClient) -> dict[int, str]:
    """Every statement the API serves (``GET /v1/anchors``, page by page), by sequence number."""
    served: dict[int, str] = {}
    cursor: str | None = None
    while True:
        params = {"limit": str(API_PAGE), **({"cursor": cursor} if cursor else {})}
        try:
            response = await client.get("/v1/anchors", params=params)
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(f"the API is unreachable: {exc!r}") from exc
        if response.status_code != 200:
            raise ServiceUnavailable(f"the API answered /v1/anchors with HTTP {response.status_code}")
        page = response.json()
        for item in page.get("items", []):
            if (
                isinstance(item, dict)
                and isinstance(item.get("seq"), int)
                and isinstance(item.get("note"), str)
            ):
                served[item["seq"]] = item["note"]
        cursor = page.get("next_cursor")
        if not cursor:
            return served


def file_statements(path: Path) -> list[str]:
    """Statement notes from a file: a JSON list of notes or ``{"note": ...}``, an API page, or JSON lines."""
    try:
        if path.stat().st_size > MAX_STATEMENTS_FILE_BYTES:
            raise ConfigurationError(f"the statements file {path} is over {MAX_STATEMENTS_FILE_BYTES} bytes")
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read the statements file {path}: {exc}") from exc
    try:
        document: Any = json.loads(text)
    except json.JSONDecodeError:
        try:
            document = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise ConfigurationError(
                f"the statements file {path} is neither JSON nor JSON lines: {exc}"
            ) from exc
    items = document.get("items", [document]) if isinstance(document, dict) else document
    notes = [item.get("note") if isinstance(item, dict) else item for item in items]
    if not isinstance(items, list) or not all(isinstance(note, str) for note in notes):
        raise ConfigurationError(
            f"the statements file {path} holds no list of statement notes (strings, or objects with a 'note')"
        )
    return [note for note in notes if isinstance(note, str)]


def _heads(note: str) -> tuple[ShardHead, ...] | None:
    try:
        return shard_heads(Checkpoint.parse(parse_note(note).text))
    except VerificationError:
        return None


def find_alarms(
    events: Sequence[AnchoredEvent], served: Mapping[int, str], known: Iterable[str] = ()
) -> list[Alarm]:
    """What is wrong between the chain's anchors, the served statements and the ``known`` ones."""
    alarms: list[Alarm] = []
    served_digests = {statement_digest(note): seq for seq, note in served.items()}
    notes = {statement_digest(note): note for note in (*served.values(), *known)}
    anchored: dict[int, AnchoredEvent] = {}
    on_chain: list[tuple[int, str, AnchoredEvent]] = []
    for event in events:
        seq = served_digests.get(event.digest)
        if seq is None:
            alarms.append(Alarm("unserved", f"statement {event.seq} anchored at {event.where()} has digest "
                                f"{event.digest.hex()}, which the API does not serve"))  # fmt: skip
        elif seq != event.seq:
            alarms.append(
                Alarm("renumbered", f"{event.where()} anchors the API's statement {seq} as {event.seq}")
            )
        first = anchored.setdefault(event.seq, event)
        if first.digest != event.digest:
            twice = f"statement {event.seq} is anchored twice with different digests"
            alarms.append(Alarm("conflict", f"{twice}: at {first.where()} and at {event.where()}"))
        note = notes.get(event.digest)
        if note is not None:
            if origin_hash(note) != event.origin:
                alarms.append(
                    Alarm("origin", f"{event.where()} anchors statement {event.seq} under another origin")
                )
            on_chain.append((event.seq, note, event))
    alarms += _conflicting_heads(on_chain)
    return alarms


def _conflicting_heads(on_chain: Sequence[tuple[int, str, AnchoredEvent]]) -> list[Alarm]:
    """Anchored statements whose heads cannot both be the ledger's: a fork made public."""
    alarms: list[Alarm] = []
    seen: dict[tuple[int, int], tuple[bytes, int]] = {}  # (shard, height) -> (block hash, seq)
    highest: dict[int, tuple[int, int]] = {}  # shard -> (height, seq) of the highest so far, by seq
    for seq, note, event in sorted(on_chain, key=lambda item: (item[0], item[2].block_number)):
        heads = _heads(note)
        if heads is None:
            alarms.append(
                Alarm("malformed", f"{event.where()} anchors a statement that is not a shard-heads note")
            )
            continue
        for head in heads:
            before = seen.setdefault((head.shard, head.height), (head.block_hash, seq))
            if before[0] != head.block_hash:
                where = f"shard {head.shard} height {head.height}"
                alarms.append(
                    Alarm("conflict", f"statements {before[1]} and {seq} name different blocks as {where}")
                )
            top = highest.get(head.shard)
            if top is not None and top[1] < seq and head.height < top[0]:
                lower = f"statement {seq} names shard {head.shard} at height {head.height}"
                alarms.append(
                    Alarm("conflict", f"{lower}, below statement {top[1]}'s {top[0]}: heads only grow")
                )
            if top is None or head.height >= top[0]:
                highest[head.shard] = (head.height, seq)
    return alarms
