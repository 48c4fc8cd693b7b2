"""The witness service: ``provledger witness``, a C2SP tlog-witness for provledger's shard logs (issue 18).

A witness remembers the last checkpoint it cosigned for each log it watches and cosigns a new
one only when a consistency proof shows it extends the old; so two conflicting histories of a
shard cannot both be cosigned. What goes here, with issue 18:

- the HTTP handler of C2SP tlog-witness ``add-checkpoint`` (request parsing, the spec's status
  codes, ``SPEC:`` quotes where it implements a MUST), served by its own small app;
- the witness's durable state, the latest cosigned checkpoint per log (SQLite in one file by
  default, Postgres optional), behind a ``Protocol`` declared beside the handler that uses it;
- its settings (the logs it witnesses: origin and verifier keys; its own key file).

The formats are not here: checkpoints, signed notes, consistency proofs and ``cosignature/v1``
signatures are in :mod:`provledger.ledger` (``checkpoint``, ``note``, ``proofs``, ``cosignature``),
shared with the anchorer's witness client (the ``tlog-witness`` anchor kind, a sub-package of
:mod:`provledger.anchor`) and with ``provledger verify``'s witness policy. The command
``provledger witness`` is a thin wrapper in :mod:`provledger.cli` calling :mod:`provledger.commands`.
"""
