"""What ``provledger up --demo`` shows once the demo's model is sealed and anchored: proof, lineage.

It does what a skeptical user would do by hand, with the same tools: fetch the evidence of the
event that recorded the model from the API, wait until the anchorer's statement covering it is
timestamped (the bundle's ``receipts`` carry every required kind), save it, and check it with
``provledger verify --require ...`` in a separate process that has no network and no database,
trusting only the public keys of the sealer's and the anchorer's key files and the local TSA's
roots (never the keys the API serves). Then it prints the model's upstream lineage.

A bundle is asked for before its block is anchored (the sealer seals within a second, the
anchorer signs a statement every ``PROVLEDGER_ANCHOR_INTERVAL_S``): the wait is bounded, shows
its progress, and on timeout says where to look and still checks what the bundle holds.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.text import Text
from rich.tree import Tree

from provledger.demo.story import DEMO_MODEL
from provledger.ledger.keys import VerifierKey

#: Seconds between polls of the API while the demo's model is not sealed yet.
POLL_INTERVAL_S = 2.0
#: How far upstream of the model the printed lineage reaches.
LINEAGE_DEPTH = 8
#: The receipt type in a bundle that each ``provledger verify --require`` kind stands for.
RECEIPT_TYPES = {"rfc3161": "rfc3161", "witness": "tlog-witness"}
#: How long to wait for the receipts: this many anchoring intervals, but never less than the floor
#: (a TSA token takes milliseconds; the rest is the interval and the sealer's block time).
ANCHOR_WAIT_INTERVALS, ANCHOR_WAIT_FLOOR_S = 6, 60.0
#: How often, while waiting for the receipts, a line says so.
WAIT_REPORT_S = 5.0


def _label(node: dict[str, Any]) -> str:
    if node["type"] == "artifact":
        artifact = node["artifact"]
        version = f" v{artifact['version']}" if artifact["version"] else ""
        return f"[bold]{artifact['kind']}[/] {artifact['namespace']}/{artifact['name']}{version}"
    job = node["run"]["job"]
    return f"[cyan]run[/] {job['namespace']}/{job['name']} ({node['run']['run_id'][:8]}...)"


def lineage_tree(graph: dict[str, Any], root: str) -> Tree:
    """The upstream graph as a tree from ``root``: each node under the nodes it fed into."""
    nodes = {node["id"]: node for node in graph["nodes"]}
    feeds: dict[str, list[str]] = {}
    for edge in graph["edges"]:
        feeds.setdefault(edge["target"], []).append(edge["source"])
    tree = Tree(_label(nodes[root]))
    seen = {root}

    def grow(branch: Tree, node_id: str) -> None:
        for source in sorted(feeds.get(node_id, []), key=lambda n: _label(nodes[n])):
            if source in seen:
                branch.add(f"{_label(nodes[source])} [dim](shown above)[/]")
                continue
            seen.add(source)
            grow(branch.add(_label(nodes[source])), source)

    grow(tree, root)
    if graph["truncated"]:
        tree.add(f"[yellow]... truncated: {graph['truncation']}[/]")
    return tree


@dataclass(frozen=True)
class TrustedKey:
    """A public key the showcase's check trusts, and the file it was read from (said in the key file)."""

    role: str
    key: VerifierKey
    source: Path


@dataclass(frozen=True)
class DemoTrust:
    """What the offline check trusts and requires: only what ``up`` itself made or was given.

    ``keys`` are the sealer's (block headers, checkpoints) and the anchorer's (statements: a
    trusted key that signs no block header of the bundle); ``tsa_roots`` the roots the TSA's
    tokens must chain to; ``required`` the ``--require`` kinds the bundle must prove;
    ``witness_policy`` the ``--witness-policy`` file when ``witness`` is required, and
    ``cosigners`` the witnesses whose cosignatures it needs.
    """

    keys: tuple[TrustedKey, ...]
    tsa_roots: Path
    anchor_interval_s: float
    required: tuple[str, ...] = ("rfc3161",)
    witness_policy: Path | None = None
    #: The key names of the witnesses the policy needs, whose lines the wait looks for.
    cosigners: tuple[str, ...] = ()

    @property
    def wait_s(self) -> float:
        """How long to wait for the receipts before saying what to do instead."""
        return max(ANCHOR_WAIT_FLOOR_S, ANCHOR_WAIT_INTERVALS * self.anchor_interval_s)

    def write_keys(self, path: Path) -> None:
        """The ``--trusted-keys`` file: one verifier key a line, each under a comment naming its file."""
        lines = [
            f"# the {k.role}'s public key, from {k.source}\n{k.key.verifier_key_string()}\n"
            for k in self.keys
        ]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(lines))

    def options(self, *, require: bool) -> list[str]:
        """``provledger verify``'s options past the key file (the requirement only if ``require``).

        ``--log-origin`` is the stack's own PROVLEDGER_LOG_ORIGIN, read as ``up`` reads it: verify
        requires the origin, and the sealer's and anchorer's keys carry different names.
        """
        from provledger.config import LedgerIdentitySettings, load

        origin = load(LedgerIdentitySettings).log_origin
        options = ["--log-origin", origin, "--tsa-roots", str(self.tsa_roots)]
        if self.witness_policy is not None:
            options += ["--witness-policy", str(self.witness_policy)]
        if require and self.required:
            options += ["--require", ",".join(self.required)]
        return options


def missing_receipts(
    bundle: dict[str, Any], required: tuple[str, ...], cosigners: Iterable[str] = ()
) -> list[str]:
    """The required kinds whose receipt the bundle does not carry yet, or not complete.

    A ``tlog-witness`` receipt appears with the first witness's cosignature and gains the others'
    as they are stored, so ``witness`` stays missing until every one of ``cosigners`` signed its
    checkpoint. This only decides when to look: ``provledger verify`` checks the signatures.
    """
    carried: dict[str, set[str]] = {}
    for receipt in bundle.get("receipts") or ():
        signers = carried.setdefault(str(receipt.get("type")), set())
        if isinstance(checkpoint := receipt.get("checkpoint"), str):
            # C2SP signed-note signature lines: "— <key name> <base64>".
            lines = (line.split(" ") for line in checkpoint.split("\n"))
            signers |= {fields[1] for fields in lines if len(fields) == 3 and fields[0] == "\u2014"}
    wanted = {"witness": set(cosigners)}
    missing = []
    for kind in required:
        found = carried.get(RECEIPT_TYPES.get(kind, kind))
        if found is None or not wanted.get(kind, set()) <= found:
            missing.append(kind)
    return missing


def receipts_phrase(kinds: Iterable[str]) -> str:
    """The receipts of ``kinds`` in words, for the wait's messages."""
    names = {"rfc3161": "an RFC 3161 timestamp", "witness": "the witnesses' cosignatures"}
    return " and ".join(names.get(kind, f"a {kind} receipt") for kind in kinds)


class DemoShowcase:
    """Polls the API from ``up``'s loop; once the demo model is sealed and anchored, proves it, once.

    Every :meth:`tick` is one cheap step (at most one poll), so ``up`` keeps watching its
    children meanwhile: find the model, then wait for its bundle's receipts, then check and show.
    """

    def __init__(self, api_url: str, data_dir: Path, trust: DemoTrust, console: Console) -> None:
        self._client = httpx.Client(base_url=api_url, timeout=5.0)
        logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per poll would drown the output
        self._api_url = api_url
        self._data_dir = data_dir
        self._trust = trust
        self._console = console
        self._next_poll = 0.0
        self._found: tuple[dict[str, Any], str, str] | None = None  # graph, root, evidence path
        self._waiting_since = 0.0
        self._next_report = 0.0
        self.done = False

    def close(self) -> None:
        self._client.close()

    def tick(self) -> bool:
        """One cheap step: nothing until the model is sealed and anchored, then the showcase (True)."""
        if self.done or time.monotonic() < self._next_poll:
            return False
        self._next_poll = time.monotonic() + POLL_INTERVAL_S
        try:
            if self._found is None:
                self._found = self._find_model()
                if self._found is None:
                    return False
                self._start_waiting()
            graph, root, evidence_path = self._found
            bundle = self._get(evidence_path)
        except httpx.HTTPError:
            return False  # the API is still starting or the block is being written: poll again
        missing = missing_receipts(bundle, self._trust.required, self._trust.cosigners)
        if missing and not self._waited_too_long(bundle, missing):
            return False
        self.done = True
        self._prove(bundle, evidence_path, anchored=not missing)
        self._console.print(f"\nLineage of the demo model (GET {self._api_url}/v1/lineage?node={root}):")
        self._console.print(lineage_tree(graph, root))
        return True

    def _get(self, path: str, **params: str | int) -> Any:
        response = self._client.get(path, params=params)
        response.raise_for_status()
        return response.json()

    def _find_model(self) -> tuple[dict[str, Any], str, str] | None:
        """The model's upstream graph, node id and evidence path, once the API knows the model."""
        found = self._get("/v1/artifacts", namespace=DEMO_MODEL.namespace, name=DEMO_MODEL.name)["items"]
        if not found:
            return None
        root = found[0]["node"]
        graph = self._get("/v1/lineage", node=root, direction="upstream", depth=LINEAGE_DEPTH, max_nodes=200)
        generated = next(e for e in graph["edges"] if e["target"] == root and e["relation"] == "generated")
        return graph, root, generated["recorded"]["evidence"]

    def _start_waiting(self) -> None:
        self._waiting_since = time.monotonic()
        self._next_report = self._waiting_since + WAIT_REPORT_S
        if self._trust.required:
            wanted, every = receipts_phrase(self._trust.required), self._trust.anchor_interval_s
            self._console.print(
                f"\nThe demo model is sealed. Waiting up to {self._trust.wait_s:.0f} s for its evidence "
                f"to carry {wanted} (the anchorer signs a statement every {every:g} s)...",
                highlight=False,
            )

    def _waited_too_long(self, bundle: dict[str, Any], missing: list[str]) -> bool:
        """Report progress; True once the wait is over its bound (then say what to do)."""
        now = time.monotonic()
        waited = now - self._waiting_since
        if waited >= self._trust.wait_s:
            logs_dir = self._data_dir / "logs"
            lacking = (
                f"The demo model's evidence still lacks {receipts_phrase(missing)} after {waited:.0f} s."
            )
            self._console.print(
                Text(lacking, "bold yellow"),
                f"The anchorer or what it anchors with may be failing: read {logs_dir / 'anchorer.log'} "
                f"(and the TSA's and witnesses' logs beside it). Once the bundle is anchored, fetch it "
                f"again and check it with the command below plus --require {','.join(self._trust.required)}. "
                "What it holds now:",
                markup=False,
                highlight=False,
            )
            return True
        if now >= self._next_report:
            self._next_report = now + WAIT_REPORT_S
            due = bundle.get("next_anchor_due")
            when = f", next statement due at {due}" if due else ""
            self._console.print(
                f"  ... {waited:.0f} s, still waiting for {receipts_phrase(missing)}{when}", highlight=False
            )
        return False

    def _prove(self, bundle: dict[str, Any], evidence_path: str, *, anchored: bool) -> None:
        """Save the bundle and the trusted keys, run ``provledger verify`` on them, print its report."""
        saved = self._data_dir / "demo-evidence.json"
        saved.write_text(json.dumps(bundle, indent=2))
        trusted = self._data_dir / "keys" / "trusted-keys.txt"
        self._trust.write_keys(trusted)
        command = [
            "provledger", "verify", str(saved), "--trusted-keys", str(trusted),
            *self._trust.options(require=anchored),
        ]  # fmt: skip
        self._console.print(
            f"\nThe event that recorded the demo model, fetched from {self._api_url}{evidence_path}, "
            f"saved to {saved} and checked offline:\n$ {' '.join(command)}",
            highlight=False,
            markup=False,
            soft_wrap=True,  # one line, so the command can be copied whole
        )
        result = subprocess.run(
            [sys.executable, "-m", "provledger", *command[1:]], capture_output=True, text=True, check=False
        )
        self._console.print(result.stdout.rstrip() or result.stderr.rstrip(), markup=False, highlight=False)
