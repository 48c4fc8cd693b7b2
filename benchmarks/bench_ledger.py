"""Micro-benchmark of the ledger core at 10^6 leaves, beside plain SHA-256 over the same bytes.

Measures, in one run on one machine:

* leaf hashing, against SHA-256 of the same 9-byte inputs;
* compact-range appends (the sealer's hot path), against SHA-256 of the same 65-byte
  interior-node messages the appends must hash (the physical floor);
* inclusion and consistency proofs at tree size 10^6, generated from stored perfect
  nodes (all interior nodes kept, and C2SP tiles keeping only every 8th level) and
  verified, against SHA-256 of the 65-byte messages a verifier hashes for those proofs.

Usage: ``python benchmarks/bench_ledger.py [--leaves N] [--proofs N] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import gc
import random
import time
from collections.abc import Callable, Sequence
from hashlib import sha256
from pathlib import Path

from provledger.ledger.compact import CompactRange
from provledger.ledger.merkle import leaf_hash, verify_consistency, verify_inclusion
from provledger.ledger.proofs import NodeId, consistency_proof_from, inclusion_proof_from, range_nodes
from provledger.ledger.tiles import node_from_tile, node_tile
from report import Figure, print_figures, write_summary

DEFAULT_JSON = Path(__file__).parent / "results" / "ledger.json"
SEED = 20261124


def _timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def _sha256_floor(message_size: int, count: int) -> float:
    """Seconds to SHA-256 ``count`` messages of ``message_size`` bytes, with nothing else."""
    message = bytes(message_size)
    digest = sha256
    start = time.perf_counter()
    for _ in range(count):
        digest(message).digest()
    return time.perf_counter() - start


class NodeStore:
    """Every perfect node, one list per level: the in-memory stand-in for the node table."""

    def __init__(self) -> None:
        self.levels: list[list[bytes]] = []

    def add(self, nodes: Sequence[tuple[NodeId, bytes]]) -> None:
        levels = self.levels
        for (level, _), value in nodes:  # each level completes in index order
            if level == len(levels):
                levels.append([])
            levels[level].append(value)

    def get_nodes(self, ids: Sequence[NodeId]) -> list[bytes]:
        return [self.levels[level][index] for level, index in ids]

    def tiles(self) -> dict[tuple[int, int], bytes]:
        """Only the levels a C2SP tile store keeps (0, 8, 16, ...), as 256-hash tiles."""
        tiles: dict[tuple[int, int], bytes] = {}
        for level in range(0, len(self.levels), 8):
            hashes = self.levels[level]
            for start in range(0, len(hashes), 256):
                tiles[level // 8, start // 256] = b"".join(hashes[start : start + 256])
        return tiles


VERIFIER_FLOOR = "SHA-256 of the nodes a verifier hashes"


def _rate(name: str, count: int, seconds: float, floor_seconds: float, floor_name: str, unit: str) -> Figure:
    return Figure(name, count / seconds, unit, count / floor_seconds, floor_name)


def _verifier_hashes(proofs: Sequence[Sequence[bytes]], extra_per_proof: int = 0) -> int:
    return sum(len(p) + extra_per_proof for p in proofs)


def run(leaves_count: int, proofs_count: int, batch: int) -> list[Figure]:
    figures: list[Figure] = []
    counters = [i.to_bytes(8, "big") for i in range(leaves_count)]
    # The benchmark keeps millions of hashes alive that a sealer never holds; exempt
    # them from the cyclic collector so its full scans are not billed to the code.
    gc.freeze()

    start = time.perf_counter()
    leaves = [leaf_hash(c) for c in counters]
    hashing = time.perf_counter() - start
    floor = _sha256_floor(9, leaves_count)
    figures.append(_rate("leaf hashes/s", leaves_count, hashing, floor, "SHA-256 of same 9 B", "leaf/s"))

    tree, store, appending = CompactRange(), NodeStore(), 0.0
    for offset in range(0, leaves_count, batch):
        chunk = leaves[offset : offset + batch]
        start = time.perf_counter()
        result = tree.append(chunk)
        appending += time.perf_counter() - start
        store.add(result.nodes)
        gc.freeze()
    # Appending n leaves hashes n - 1 interior nodes (plus one root fold per batch).
    floor = _sha256_floor(65, leaves_count - 1)
    name = f"compact range appends/s (batches of {batch})"
    figures.append(_rate(name, leaves_count, appending, floor, "SHA-256 of same 65 B nodes", "leaf/s"))

    rng = random.Random(SEED)
    size = tree.size
    tree_root = tree.root()
    indexes = [rng.randrange(size) for _ in range(proofs_count)]
    old_sizes = [rng.randrange(1, size) for _ in range(proofs_count)]
    old_roots = [_root_at(store, s) for s in old_sizes]

    inclusion: list[list[bytes]] = []
    seconds = _timed(
        lambda: inclusion.extend(inclusion_proof_from(store.get_nodes, i, size) for i in indexes)
    )
    floor = _sha256_floor(65, _verifier_hashes(inclusion))
    figures.append(
        _rate("inclusion proofs generated/s", proofs_count, seconds, floor, VERIFIER_FLOOR, "proof/s")
    )

    def verify_all_inclusion() -> None:
        for index, proof in zip(indexes, inclusion, strict=True):
            verify_inclusion(leaves[index], index, size, proof, tree_root)

    seconds = _timed(verify_all_inclusion)
    figures.append(
        _rate("inclusion proofs verified/s", proofs_count, seconds, floor, VERIFIER_FLOOR, "proof/s")
    )

    tiles = store.tiles()

    def from_tiles(ids: Sequence[NodeId]) -> list[bytes]:
        spans = [node_tile(level, index) for level, index in ids]
        return [node_from_tile(tiles[s.tile_level, s.tile_index], s) for s in spans]

    seconds = _timed(lambda: [inclusion_proof_from(from_tiles, i, size) for i in indexes])
    name = "inclusion proofs generated/s from tiles"
    figures.append(_rate(name, proofs_count, seconds, floor, VERIFIER_FLOOR, "proof/s"))

    consistency: list[list[bytes]] = []
    seconds = _timed(
        lambda: consistency.extend(consistency_proof_from(store.get_nodes, old, size) for old in old_sizes)
    )
    # A consistency verifier hashes each proof element into the new root and most into the old.
    floor = _sha256_floor(65, 2 * _verifier_hashes(consistency))
    figures.append(
        _rate("consistency proofs generated/s", proofs_count, seconds, floor, VERIFIER_FLOOR, "proof/s")
    )

    def verify_all_consistency() -> None:
        for old, old_root, proof in zip(old_sizes, old_roots, consistency, strict=True):
            verify_consistency(old, size, old_root, tree_root, proof)

    seconds = _timed(verify_all_consistency)
    figures.append(
        _rate("consistency proofs verified/s", proofs_count, seconds, floor, VERIFIER_FLOOR, "proof/s")
    )
    return figures


def _root_at(store: NodeStore, size: int) -> bytes:
    """The root of the first ``size`` leaves, from the perfect nodes covering them."""
    return CompactRange(size, store.get_nodes(range_nodes(0, size))).root()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, default=1_000_000, help="tree size (default 10^6)")
    parser.add_argument("--proofs", type=int, default=20_000, help="proofs of each kind (default 20,000)")
    parser.add_argument("--batch", type=int, default=1_000, help="leaves per append, as a sealer block")
    parser.add_argument(
        "--json", type=Path, default=DEFAULT_JSON, help=f"summary path (default {DEFAULT_JSON})"
    )
    args = parser.parse_args()
    started = time.perf_counter()
    figures = run(args.leaves, args.proofs, args.batch)
    print_figures(f"ledger core at {args.leaves:,} leaves ({time.perf_counter() - started:.1f} s)", figures)
    write_summary(
        args.json, "ledger", figures, leaves=args.leaves, proofs=args.proofs, batch=args.batch, seed=SEED
    )


if __name__ == "__main__":
    main()
