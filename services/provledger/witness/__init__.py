"""The witness service: ``provledger witness``, a C2SP tlog-witness for provledger's shard logs (issue 18).

A witness remembers the last checkpoint it cosigned for each log it watches and cosigns a new
one only when a consistency proof shows it extends the old; so two conflicting histories of a
shard cannot both be cosigned::

    >>> import asyncio
    >>> from provledger.ledger.checkpoint import Checkpoint, sign_checkpoint
    >>> from provledger.ledger.keys import SigningKey
    >>> from provledger.witness.protocol import format_add_checkpoint
    >>> from provledger.witness.service import MemoryWitnessStore, Witness
    >>> log, me = SigningKey.generate("ledger.example/log"), SigningKey.generate("witness.example/w1")
    >>> witness = Witness(me, {"ledger.example/log/shard/0": (log.verifier,)}, MemoryWitnessStore())
    >>> note = sign_checkpoint(Checkpoint("ledger.example/log/shard/0", 1, bytes(32)), [log])
    >>> asyncio.run(witness.add_checkpoint(format_add_checkpoint(0, [], note))).status
    200

Modules:

- :mod:`.protocol`: the ``add-checkpoint`` wire format, pure (request bodies, the 200 signature
  lines, the 409 ``text/x.tlog.size`` body, the monitoring path): what the anchorer's witness
  client (the ``tlog-witness`` anchor kind, a sub-package of :mod:`provledger.anchor`) imports to
  build requests and read answers;
- :mod:`.service`: the witness's decisions with the spec's status codes (``SPEC:`` quotes where
  it implements a MUST), and the ``WitnessStore`` protocol its state meets;
- :mod:`.sqlite`: that state in one SQLite file (the default);
- :mod:`.postgres`: the same state in Postgres, in a schema of its own
  (``PROVLEDGER_WITNESS_DATABASE_URL``), for a participant who already runs one;
- :mod:`.settings`: ``PROVLEDGER_WITNESS_*`` and the logs file (origin and verifier keys per log),
  and which store keeps the state;
- :mod:`.app`: the HTTP server (Starlette on uvicorn).

The other formats are not here: checkpoints, signed notes, consistency proofs and
``cosignature/v1`` signatures are in :mod:`provledger.ledger` (``checkpoint``, ``note``,
``merkle``, ``cosignature``), shared with ``provledger verify``'s witness policy. The command
``provledger witness`` is a thin wrapper in :mod:`provledger.cli` calling :mod:`provledger.commands`.
"""
