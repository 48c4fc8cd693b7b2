"""``provledger monitor``: list every anchor the ledger's submitter made on chain and raise the alarm.

The chain is read with plain JSON-RPC (``--rpc-url``, any node you choose); the statements come
from the ledger's API (``--api``, ``GET /v1/anchors``) and, optionally, a file of statements you
hold (``--statements``). Each anchor is printed with its block and whether the API serves its
statement; an alarm is printed for an anchored digest the API does not serve, a sequence number
anchored twice, and two anchored statements whose heads conflict
(:mod:`provledger.anchor.evm.monitor`). Exit codes: 0 no alarm, 1 an alarm, 2 bad options,
3 the chain or the API did not answer.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
from rich.console import Console
from rich.progress import Progress
from rich.text import Text

from provledger.anchor.evm.monitor import (
    AnchoredEvent,
    anchored_events,
    file_statements,
    find_alarms,
    served_statements,
)
from provledger.anchor.evm.settings import parse_address
from provledger.errors import ConfigurationError
from provledger.ledger.evm_receipt import statement_digest

EXIT_OK, EXIT_ALARM = 0, 1


async def _events(rpc_url: str, contract: bytes, submitter: bytes, from_block: int) -> list[AnchoredEvent]:
    with Progress(transient=True, console=Console(stderr=True)) as progress:
        task = progress.add_task("reading Anchored logs block by block", total=None)

        def advanced(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        return await anchored_events(rpc_url, contract, submitter, from_block, advanced)


def _token(path: Path) -> str:
    try:
        token = path.read_text("utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read the API token file {path}: {exc}") from exc
    if not token or any(c.isspace() for c in token):
        raise ConfigurationError(
            f"the API token file {path} must hold one token (`provledger tokens create`)"
        )
    return token


async def _served(api: str, token_file: Path | None) -> dict[int, str]:
    headers = {} if token_file is None else {"Authorization": f"Bearer {_token(token_file)}"}
    async with httpx.AsyncClient(base_url=api, headers=headers, timeout=30) as client:
        return await served_statements(client)


def monitor_command(
    rpc_url: str,
    contract: str,
    submitter: str,
    *,
    api: str | None,
    token_file: Path | None,
    statements: Path | None,
    from_block: int,
    as_json: bool,
) -> int:
    """Read the chain and the statements, print every anchor and every alarm; the exit code above."""
    contract_address, submitter_address = (
        parse_address(contract, "--contract"),
        parse_address(submitter, "--submitter"),
    )
    known = file_statements(statements) if statements is not None else []
    events = asyncio.run(_events(rpc_url, contract_address, submitter_address, from_block))
    served = asyncio.run(_served(api, token_file)) if api is not None else {}
    alarms = find_alarms(events, served, known)
    if as_json:
        print(json.dumps({
            "anchors": [{"seq": e.seq, "block_number": e.block_number, "tx_hash": e.tx_hash,
                         "digest": e.digest.hex()} for e in events],
            "alarms": [{"kind": a.kind, "detail": a.detail} for a in alarms],
        }, indent=2))  # fmt: skip
        return EXIT_ALARM if alarms else EXIT_OK
    console = Console(highlight=False, emoji=False, soft_wrap=True)  # one anchor a line, for grep
    served_digests = {statement_digest(note) for note in served.values()}
    for event in events:
        state = "served by the API" if event.digest in served_digests else "NOT served by the API"
        console.print(Text(f"statement {event.seq} at {event.where()}: digest {event.digest.hex()}, {state}"))
    for alarm in alarms:
        console.print(Text(f"ALARM {alarm.kind}: ", style="bold red") + Text(alarm.detail))
    summary = f"{len(events)} anchors by {submitter} through {contract}"
    if api is None:
        summary += " (no --api given: every anchor is unserved; pass the ledger's API URL)"
    console.print(Text(summary + (f"; {len(alarms)} alarms" if alarms else "; no alarm")))
    return EXIT_ALARM if alarms else EXIT_OK
