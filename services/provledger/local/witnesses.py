"""The local stack's witnesses: the demo federation's participants, each a real ``provledger witness``.

In the demo story (:mod:`provledger.demo.story`) a federation of clients trains a shared model;
each participant that wants the ledger's history to stay the one it saw runs a witness (C2SP
tlog-witness). ``provledger up`` plays two of them, each with its own key, SQLite state file and
port under the data directory, and tells the anchorer where they are::

    witnesses = plan_witnesses(Path(".provledger"), PARTICIPANTS)
    logs = write_logs_file(Path(".provledger/witnesses/logs.txt"), origin, shards=8, sealer=key)
    env = witnesses_variable(witnesses)              # PROVLEDGER_WITNESSES for the anchorer
    policy = write_policy_file(Path(".provledger/witnesses/policy.txt"), witnesses)

Keys are made once and reused, like ``up``'s other development keys, so a witness's state
(the checkpoints it cosigned) keeps meaning something across runs; none is ever committed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from provledger.demo.story import FL_LOCAL_DATA
from provledger.keyfiles import generate_key_file, load_signing_key
from provledger.ledger.checkpoint import shard_origin
from provledger.ledger.cosignature import CosignatureVerifier, cosigner
from provledger.ledger.keys import VerifierKey
from provledger.local.process import free_port

#: The federation's participants that run a witness: the first two clients of the demo's
#: federated round (their local data is ``demo/fl/client-<k>/local-data``).
PARTICIPANTS: Final = tuple(data.name.split("/")[1] for data in FL_LOCAL_DATA[:2])
#: Where, under the data directory, the witnesses' keys, state, logs file and policy live.
WITNESSES_DIR: Final = Path("witnesses")
#: The policy group every demo witness belongs to; its quorum is all of them.
FEDERATION_GROUP: Final = "federation"


@dataclass(frozen=True)
class LocalWitness:
    """One participant's witness: its name, key, state file and address."""

    participant: str
    key_file: Path
    key_name: str
    verifier: CosignatureVerifier
    state_file: Path
    port: int

    @property
    def url(self) -> str:
        """The submission prefix the anchorer posts ``/add-checkpoint`` under."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def verifier_key(self) -> str:
        """The cosignature verifier key (type 0x04), as ``provledger witness keys`` prints it."""
        return self.verifier.verifier_key_string()

    def env(self, logs_file: Path) -> dict[str, str]:
        """The ``PROVLEDGER_WITNESS_*`` variables of its ``provledger witness`` process."""
        return {
            "PROVLEDGER_WITNESS_KEY_FILE": str(self.key_file),
            "PROVLEDGER_WITNESS_NAME": self.key_name,
            "PROVLEDGER_WITNESS_LOGS_FILE": str(logs_file),
            "PROVLEDGER_WITNESS_STATE_FILE": str(self.state_file),
            "PROVLEDGER_WITNESS_HOST": "127.0.0.1",
            "PROVLEDGER_WITNESS_PORT": str(self.port),
        }


def witness_key_name(participant: str) -> str:
    """The witness's key name: a schema-less URL naming it, as C2SP witness names are."""
    return f"{participant}.demo.provledger.local/witness"


def plan_witnesses(data_dir: Path, participants: Sequence[str] = PARTICIPANTS) -> tuple[LocalWitness, ...]:
    """One witness per participant: its key (made on first use), state file and a free port."""
    directory = (data_dir / WITNESSES_DIR).resolve()
    planned = []
    for participant in participants:
        key_file, name = directory / f"{participant}.pem", witness_key_name(participant)
        key = load_signing_key(key_file, name) if key_file.exists() else generate_key_file(key_file, name)
        planned.append(
            LocalWitness(
                participant, key_file, name, cosigner(key), directory / f"{participant}.sqlite3", free_port()
            )
        )
    return tuple(planned)


def logs_file_text(log_origin: str, shards: int, sealer: VerifierKey) -> str:
    """The witnesses' logs file: every shard's checkpoint origin, each signed by the sealer's key."""
    lines = [
        f"log {shard_origin(log_origin, shard)} {sealer.verifier_key_string()}\n" for shard in range(shards)
    ]
    return f"# The {shards} shard logs of {log_origin}, written by `provledger up`.\n" + "".join(lines)


def write_logs_file(path: Path, log_origin: str, shards: int, sealer: VerifierKey) -> Path:
    """Write :func:`logs_file_text` to ``path`` (anew each run: the shards follow the topics)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(logs_file_text(log_origin, shards, sealer))
    return path


def witnesses_variable(witnesses: Sequence[LocalWitness]) -> str:
    """``PROVLEDGER_WITNESSES`` for the anchorer: ``<verifier key> <url>`` entries, comma-separated."""
    return ",".join(f"{w.verifier_key} {w.url}" for w in witnesses)


def policy_text(witnesses: Sequence[LocalWitness], group: str = FEDERATION_GROUP) -> str:
    """A witness policy requiring every witness (n of n), for ``provledger verify --witness-policy``.

    The format is the Sigsum policy file with C2SP verifier keys that
    :mod:`provledger.ledger.witness_policy` reads: ``witness`` lines, one ``group`` of all of
    them, and the ``quorum`` naming that group.
    """
    lines = [f"# Every participant's witness must cosign: {len(witnesses)} of {len(witnesses)}.\n"]
    lines += [f"witness {w.participant} {w.verifier_key} {w.url}\n" for w in witnesses]
    lines.append(f"group {group} all {' '.join(w.participant for w in witnesses)}\n")
    lines.append(f"quorum {group}\n")
    return "".join(lines)


def write_policy_file(path: Path, witnesses: Sequence[LocalWitness]) -> Path:
    """Write :func:`policy_text` to ``path`` (anew each run: the URLs change with the ports)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(policy_text(witnesses))
    return path
