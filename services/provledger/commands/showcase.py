"""What ``provledger up --demo`` shows once the demo's model is sealed: proof, offline check, lineage.

It does what a skeptical user would do by hand, with the same tools: fetch the evidence of the
event that recorded the model from the API, save it, and check it with ``provledger verify`` in
a separate process that has no network and no database, trusting only the public key of the
sealer's key file (never the keys the API serves). Then it prints the model's upstream lineage.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.tree import Tree

from provledger.demo.story import DEMO_MODEL
from provledger.ledger.keys import SigningKey

#: Seconds between polls of the API while the demo's model is not sealed yet.
POLL_INTERVAL_S = 2.0
#: How far upstream of the model the printed lineage reaches.
LINEAGE_DEPTH = 8


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


class DemoShowcase:
    """Polls the API from ``up``'s loop; once the demo model is sealed, proves and shows it, once."""

    def __init__(self, api_url: str, data_dir: Path, key_file: Path, key_name: str, console: Console) -> None:
        self._client = httpx.Client(base_url=api_url, timeout=5.0)
        logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per poll would drown the output
        self._api_url = api_url
        self._data_dir = data_dir
        self._key_file = key_file
        self._key_name = key_name
        self._console = console
        self._next_poll = 0.0
        self.done = False

    def close(self) -> None:
        self._client.close()

    def tick(self) -> bool:
        """One cheap step: nothing until the model is sealed, then the whole showcase (returns True)."""
        if self.done or time.monotonic() < self._next_poll:
            return False
        self._next_poll = time.monotonic() + POLL_INTERVAL_S
        try:
            found = self._get("/v1/artifacts", namespace=DEMO_MODEL.namespace, name=DEMO_MODEL.name)["items"]
            if not found:
                return False
            root = found[0]["node"]
            graph = self._get(
                "/v1/lineage", node=root, direction="upstream", depth=LINEAGE_DEPTH, max_nodes=200
            )
        except httpx.HTTPError:
            return False  # the API is still starting or the block is being written: poll again
        self.done = True
        self._prove(graph, root)
        self._console.print(f"\nLineage of the demo model (GET {self._api_url}/v1/lineage?node={root}):")
        self._console.print(lineage_tree(graph, root))
        return True

    def _get(self, path: str, **params: str | int) -> Any:
        response = self._client.get(path, params=params)
        response.raise_for_status()
        return response.json()

    def _prove(self, graph: dict[str, Any], root: str) -> None:
        generated = next(e for e in graph["edges"] if e["target"] == root and e["relation"] == "generated")
        evidence_path = generated["recorded"]["evidence"]
        bundle = self._data_dir / "demo-evidence.json"
        bundle.write_text(json.dumps(self._get(evidence_path), indent=2))
        trusted = self._data_dir / "keys" / "trusted-keys.txt"
        verifier = SigningKey.from_pem(self._key_file.read_bytes(), self._key_name).verifier
        trusted.write_text(
            f"# the sealer's public key, from {self._key_file}\n{verifier.verifier_key_string()}\n"
        )
        command = ["provledger", "verify", str(bundle), "--trusted-keys", str(trusted)]
        self._console.print(
            f"\nThe event that recorded the demo model, fetched from {self._api_url}{evidence_path}, "
            f"saved to {bundle} and checked offline:\n$ {' '.join(command)}"
        )
        result = subprocess.run(
            [sys.executable, "-m", "provledger", *command[1:]], capture_output=True, text=True, check=False
        )
        self._console.print(result.stdout.rstrip() or result.stderr.rstrip(), markup=False, highlight=False)
