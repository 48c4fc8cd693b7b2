"""The anchoring service: publish signed shard-heads statements outside the database (issue 17).

The anchorer (``provledger anchorer``, built by issue 17) checks that every shard's log only
grew, signs the shard-heads statement (:mod:`provledger.ledger.checkpoint`) with its own key,
stores it, then hands the signed note to every configured anchor kind and stores the receipt
each returns. What goes here:

- ``anchor/<kind>/``: one sub-package per anchor kind, holding its client (publishes a
  statement and returns the receipt), its receipt verifier (the offline check ``provledger
  verify`` runs) and its settings (one frozen settings class of ``PROVLEDGER_<KIND>_*``
  variables), together meeting :class:`~provledger.anchor.kinds.AnchorKind`. Issue 17 adds ``rfc3161``,
  issue 21 ``evm``.
- ``anchor/tlog_witness/`` (issue 18): the anchorer as a C2SP tlog-witness client. Not an anchor
  kind and not in the registry: it submits each shard's own checkpoint (signed by the sealer) to
  every witness in ``PROVLEDGER_WITNESSES`` and stores their cosignatures, where a kind anchors
  the anchorer's statement; a witness refusing a checkpoint as inconsistent is a fork alarm.
- :mod:`provledger.anchor.kinds`: the :class:`~provledger.anchor.kinds.AnchorKind` contract
  every kind meets, and the registry, one line per kind, that the anchorer and ``provledger
  verify`` look kinds up in by name.
- The anchorer's loop, its fork check and its storage calls (``store/``) arrive with issue 17.

Plugging in a kind is the folder and the registry line; nothing else names a kind::

    ANCHOR_KINDS = {"rfc3161": rfc3161.make_kind}
"""
