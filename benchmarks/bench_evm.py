"""The evm anchor kind on a local anvil: gas, statement-to-final-receipt time, offline verify time.

Each figure beside a baseline measured in the same run:

* ``gas per anchor``: ``gasUsed`` of the anchor transactions, beside a plain value transfer's
  (21,000, the least any transaction costs), both read from anvil's receipts;
* ``gas to deploy``: the contract creation's ``gasUsed``, beside the same transfer;
* ``statement to final receipt``: from the anchorer storing a statement to the evm receipt
  stored, over ``--statements`` statements (one tick sends and anvil mines at once; then 65
  blocks are mined on demand, making the block final, and the next tick proves and stores it),
  beside the same for the rfc3161 kind with the local TSA. On a public chain add its finality:
  64 slots of 12 s, about 13 minutes on Ethereum;
* ``offline verify``: the evm receipt's check as ``provledger verify --evm-trusted-block`` runs it
  (header hash, receipts-trie proof, log fields, trusted block), median over ``--verifies`` runs,
  beside opening the statement's signed note (one Ed25519 verification and parsing) on the same
  receipt. Target: under 20 ms.

Usage::

    .venv/bin/python benchmarks/bench_evm.py                 # 20 statements, 200 verifies
    .venv/bin/python benchmarks/bench_evm.py --statements 3 --verifies 20   # a smoke run
    .venv/bin/python benchmarks/bench_evm.py --statements 3 --block-time 1  # finality by the clock
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg

from bench_anchor import Ledger
from bench_seal import bench_servers, create_database
from provledger.anchor.evm import TrustedBlocks, make_kind
from provledger.anchor.evm.deploy import deploy_contract, new_key_file
from provledger.anchor.evm.settings import read_key_file
from provledger.anchor.evm.verify import EvmReceiptVerifier
from provledger.anchor.kinds import AnyAnchorKind
from provledger.anchor.metrics import AnchorerMetrics
from provledger.anchor.rfc3161 import make_kind as make_rfc3161
from provledger.anchor.service import Anchorer, AnchorerOptions
from provledger.anchor.topic import CheckpointTopic
from provledger.ledger.checkpoint import open_checkpoint
from provledger.ledger.keys import SigningKey
from provledger.local.anvil import local_anvil, rpc_call
from provledger.local.tsa import local_tsa
from provledger.store.db import create_pool
from report import Figure, print_figures, write_summary

DEFAULT_JSON = Path(__file__).parent / "results" / "evm.json"
ORIGIN = "bench.evm/ledger"
FINALITY_BLOCKS = 65
SEALER, ANCHORER = SigningKey.generate("bench.evm/sealer"), SigningKey.generate("bench.evm/anchorer")


async def _anchor_times(
    database_url: str,
    bootstrap: str,
    kind: AnyAnchorKind,
    statements: int,
    finalize: Callable[[], Awaitable[None]],
) -> tuple[list[float], list[dict[str, Any]]]:
    """Seconds from each statement stored to its receipt stored, and the receipts."""
    pool = await create_pool(database_url)
    topic = CheckpointTopic(bootstrap, f"bench.{uuid.uuid4().hex[:8]}.checkpoints", "bench")
    conn = await asyncpg.connect(database_url)
    times: list[float] = []
    try:
        ledger = await Ledger.create(conn, SEALER, ORIGIN, 1)
        anchorer = Anchorer(pool, ANCHORER, [kind], topic, AnchorerOptions(ORIGIN, 0.05, 86_400.0),
                            AnchorerMetrics((kind.name,)))  # fmt: skip
        await anchorer.take_over()
        for seq in range(1, statements + 1):
            await ledger.seal_round(1, 10)
            started = time.perf_counter()
            await anchorer.tick()
            while await conn.fetchval("SELECT count(*) FROM anchor_receipts WHERE seq = $1", seq) == 0:
                await finalize()
                await anchorer.tick()
            times.append(time.perf_counter() - started)
        rows = await conn.fetch("SELECT receipt FROM anchor_receipts ORDER BY seq")
        return times, [json.loads(row["receipt"]) for row in rows]
    finally:
        await conn.close()
        await topic.stop()
        await pool.close()


def _finality(url: str, block_time_s: float | None) -> Callable[[], Awaitable[None]]:
    """What happens between two ticks while a receipt is not final: mine on demand, or wait for the clock."""

    async def mine() -> None:
        rpc_call(url, "anvil_mine", hex(FINALITY_BLOCKS))

    async def wait() -> None:
        await asyncio.sleep(min(block_time_s or 1.0, 1.0))

    return wait if block_time_s else mine


async def _no_wait() -> None:
    """rfc3161 receipts are final at once."""


def _median_ms(run: Callable[[], object], repeats: int) -> float:
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings) * 1000


async def measure(args: argparse.Namespace) -> list[Figure]:
    with (
        bench_servers("bench-evm-") as (servers, folder),
        local_tsa(folder / "tsa", folder / "tsa.log") as tsa,
    ):
        with local_anvil(folder / "anvil.log", block_time_s=args.block_time) as node:
            key_file = folder / "submitter.key"
            rpc_call(node.url, "anvil_setBalance", new_key_file(key_file), hex(10**21))
            deployment = await deploy_contract(node.url, read_key_file(key_file), 100.0)
            transfer_gas = _transfer_gas(node.url)
            chain = {
                "evm_rpc_url": node.url,
                "evm_chain_id": node.chain_id,
                "evm_contract": deployment.contract,
            }
            kind = make_kind(**chain, evm_key_file=key_file)
            evm_db = await create_database(servers.database_url, "bench_evm_chain")
            evm_times, receipts = await _anchor_times(
                evm_db, servers.kafka_bootstrap, kind, args.statements,
                _finality(node.url, args.block_time),
            )  # fmt: skip
            anchor_gas = [int(_receipt(node.url, r["tx_hash"])["gasUsed"], 16) for r in receipts]
        tsa_db = await create_database(servers.database_url, "bench_evm_tsa")
        tsa_kind = make_rfc3161(tsa_urls=tsa.url, tsa_roots_file=tsa.roots_file)
        tsa_times, _ = await _anchor_times(
            tsa_db, servers.kafka_bootstrap, tsa_kind, args.statements, _no_wait
        )
    fields = receipts[-1]
    verifier = EvmReceiptVerifier(
        TrustedBlocks({fields["block_number"]: bytes.fromhex(fields["block_hash"][2:])})
    )
    verify_ms = _median_ms(lambda: verifier.check(fields, len(receipts)), args.verifies)
    note_ms = _median_ms(lambda: open_checkpoint(fields["statement"], [ANCHORER.verifier]), args.verifies)
    return [
        Figure("gas per anchor (mean)", statistics.mean(anchor_gas), "gas", transfer_gas, "a value transfer"),
        Figure("gas to deploy the contract", deployment.gas_used, "gas", transfer_gas, "a value transfer"),
        Figure(
            "statement to final evm receipt (p50)",
            statistics.median(evm_times) * 1000,
            "ms",
            statistics.median(tsa_times) * 1000,
            "the same to an rfc3161 receipt",
        ),
        Figure(
            "offline verify of an evm receipt (p50)", verify_ms, "ms", note_ms, "opening its statement note"
        ),
    ]


def _transfer_gas(url: str) -> int:
    """gasUsed of a plain value transfer from one of anvil's funded accounts, sent now."""
    [sender, *_] = rpc_call(url, "eth_accounts")
    tx = rpc_call(url, "eth_sendTransaction", {"from": sender, "to": sender, "value": "0x1"})
    return int(_receipt(url, tx)["gasUsed"], 16)


def _receipt(url: str, tx_hash: str) -> dict[str, Any]:
    """The transaction's receipt, once a block holds it (anvil mines right after answering)."""
    for _ in range(100):
        found = rpc_call(url, "eth_getTransactionReceipt", tx_hash)
        if isinstance(found, dict):
            return found
        time.sleep(0.05)
    raise RuntimeError(f"transaction {tx_hash} was not mined")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--statements", type=int, default=20, help="statements anchored per kind")
    parser.add_argument(
        "--block-time",
        type=float,
        default=None,
        help="anvil mines a block every this many seconds and finality is waited for (~65 blocks a "
        "statement); default: a block per transaction and the finality blocks mined on demand",
    )
    parser.add_argument("--verifies", type=int, default=200, help="offline verifications timed")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write the summary")
    args = parser.parse_args(argv)
    figures = asyncio.run(measure(args))
    how = (
        f"a block every {args.block_time} s"
        if args.block_time
        else "automine, finality blocks mined on demand"
    )
    print_figures(f"evm anchor kind on anvil ({how})", figures)
    write_summary(
        args.json,
        "evm",
        figures,
        statements=args.statements,
        verifies=args.verifies,
        block_time=args.block_time,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
