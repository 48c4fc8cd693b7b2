"""Ethereum's Merkle-Patricia trie: build one from its entries, prove an entry, check a proof.

A block's receipts trie maps ``rlp(transaction index)`` to the encoded receipt; its root is the
header's ``receiptsRoot``. :func:`prove` returns the nodes on the path to one key (every node that
is referred to by hash, root first), and :func:`verify_proof` walks them from a root to the value,
so one receipt is shown to be in a block with a few hundred bytes and no node::

    >>> entries = {rlp.encode(rlp.encode_int(i)): b"receipt %d" % i for i in range(3)}
    >>> root, proof = prove(entries, rlp.encode(rlp.encode_int(1)))
    >>> verify_proof(root, rlp.encode(rlp.encode_int(1)), proof)
    b'receipt 1'

SPEC: Ethereum Yellow Paper, Appendix D (Modified Merkle Patricia Tree): a leaf is
"a two-item structure whose first item corresponds to the nibbles in the key not already
accounted for by the accumulation of keys and branches traversed from the root. The hex-prefix
encoding method is used and the second parameter to the function is required to be 1"; an
extension the same with flag 0 and "the second item [...] is the node composition"; a branch
"a 17-item structure whose first sixteen items correspond to each of the sixteen possible nibble
values [...] The 17th item is used in the case of this being a terminator node". A child is
referred to by "the RLP of the node itself if it is less than 32 bytes, otherwise the Keccak hash
of the RLP"; the root is always the Keccak-256 hash of its node's RLP.
Appendix C (Hex-Prefix Encoding): the first nibble holds the flag ``2 * t`` plus 1 when the
nibble count is odd, then the first nibble (odd) or a zero nibble (even), then the rest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from Crypto.Hash import keccak

from provledger.errors import VerificationError
from provledger.ledger import rlp

#: Most nodes one proof may hold: a path through a trie of 2**64 keys has at most 64 nibbles.
MAX_PROOF_NODES: Final = 64
#: Largest node accepted in a proof: a branch is at most ~550 bytes, a leaf holds one receipt.
MAX_NODE_BYTES: Final = 1 << 20

_BRANCH: Final = 17


def keccak256(data: bytes) -> bytes:
    """Keccak-256 as Ethereum uses it (the original Keccak padding, not SHA3-256's)."""
    return keccak.new(digest_bits=256, data=data).digest()


#: The root of a trie with no entries: Keccak-256 of the RLP of the empty string.
EMPTY_ROOT: Final = keccak256(rlp.encode(b""))


def nibbles(key: bytes) -> tuple[int, ...]:
    """``key`` as half-bytes, high half first."""
    return tuple(half for byte in key for half in (byte >> 4, byte & 0x0F))


def hex_prefix(path: Sequence[int], leaf: bool) -> bytes:
    """Appendix C: the nibble ``path`` packed into bytes with the leaf flag and its parity."""
    flag = 2 * leaf + len(path) % 2
    padded = [flag, *path] if len(path) % 2 else [flag, 0, *path]
    return bytes(padded[i] << 4 | padded[i + 1] for i in range(0, len(padded), 2))


def read_hex_prefix(data: bytes) -> tuple[tuple[int, ...], bool]:
    """The nibble path and leaf flag of a hex-prefix encoding; an error for any other spelling."""
    if not data:
        raise VerificationError("trie node path is empty, not hex-prefix encoded")
    flag, first = data[0] >> 4, data[0] & 0x0F
    if flag > 3:
        raise VerificationError(f"trie node path flag {flag} is not 0 to 3")
    if not flag % 2 and first:
        raise VerificationError("trie node path of even length has a non-zero padding nibble")
    rest = nibbles(data[1:])
    return ((first, *rest) if flag % 2 else rest), flag >= 2


def _reference(node: rlp.Item) -> rlp.Item:
    """How a parent refers to ``node``: inline below 32 bytes of RLP, else by Keccak-256 hash."""
    encoded = rlp.encode(node)
    return node if len(encoded) < 32 else keccak256(encoded)


def _common_prefix(paths: Sequence[tuple[int, ...]], depth: int) -> int:
    shortest = min(len(path) for path in paths)
    length = 0
    while depth + length < shortest and len({path[depth + length] for path in paths}) == 1:
        length += 1
    return length


def _build(entries: Sequence[tuple[tuple[int, ...], bytes]], depth: int, key: tuple[int, ...],
           proof: list[bytes]) -> rlp.Item:  # fmt: skip
    """The node over ``entries`` below ``depth``; ``key``'s path goes to ``proof``."""
    if len(entries) == 1:
        path, value = entries[0]
        node: rlp.Item = [hex_prefix(path[depth:], leaf=True), value]
    else:
        shared = _common_prefix([path for path, _ in entries], depth)
        if shared:
            child = _build(entries, depth + shared, key, proof)
            node = [hex_prefix(entries[0][0][depth : depth + shared], leaf=False), _reference(child)]
        else:
            slots: list[rlp.Item] = [b""] * _BRANCH
            for nibble in range(16):
                group = [entry for entry in entries if len(entry[0]) > depth and entry[0][depth] == nibble]
                if group:
                    slots[nibble] = _reference(_build(group, depth + 1, key, proof))
            ends = [value for path, value in entries if len(path) == depth]
            slots[16] = ends[0] if ends else b""
            node = slots
    encoded = rlp.encode(node)
    # Every entry here shares the path to this node, so it is on key's path when key shares it too.
    if key[:depth] == entries[0][0][:depth] and (depth == 0 or len(encoded) >= 32):
        proof.insert(0, encoded)  # children are built first: the nearer the root, the earlier
    return node


def prove(entries: Mapping[bytes, bytes], key: bytes) -> tuple[bytes, tuple[bytes, ...]]:
    """The root of the trie holding ``entries``, and the proof of ``key`` in it (root node first).

    The values must be non-empty (an empty value is no entry) and ``key`` one of the keys.
    """
    if key not in entries or not all(entries.values()):
        raise ValueError("prove needs non-empty values and one of the trie's keys")
    ordered = sorted((nibbles(k), v) for k, v in entries.items())
    proof: list[bytes] = []
    root = _build(ordered, 0, nibbles(key), proof)
    return keccak256(rlp.encode(root)), tuple(proof)


def trie_root(entries: Mapping[bytes, bytes]) -> bytes:
    """The root hash of the trie holding ``entries`` (:data:`EMPTY_ROOT` for none)."""
    if not entries:
        return EMPTY_ROOT
    return prove(entries, next(iter(entries)))[0]


def verify_proof(root: bytes, key: bytes, proof: Sequence[bytes]) -> bytes:
    """The value ``proof`` shows is stored under ``key`` in the trie with ``root``; else an error.

    The first node must hash to ``root``, every node referred to by hash must be the next one of
    the proof, and the proof must end exactly at the value: nothing before, between or after.
    """
    if not 1 <= len(proof) <= MAX_PROOF_NODES:
        raise VerificationError(f"trie proof has {len(proof)} nodes, not 1 to {MAX_PROOF_NODES}")
    path, at, used = nibbles(key), 0, 0
    reference: rlp.Item = root
    while True:
        if isinstance(reference, bytes):
            if len(reference) != 32:
                raise VerificationError(f"trie proof node {used} is referred to by {len(reference)} bytes")
            if used == len(proof):
                raise VerificationError("trie proof ends before the key's value")
            encoded = proof[used]
            if len(encoded) > MAX_NODE_BYTES or keccak256(encoded) != reference:
                raise VerificationError(f"trie proof node {used} is not the node its parent names")
            node = rlp.decode(encoded)
            used += 1
        else:
            node = reference  # an inline child, under 32 bytes of RLP, held by its parent
        items = rlp.as_list(node, f"trie proof node {used}")
        if len(items) == _BRANCH:
            if at == len(path):
                value = rlp.as_bytes(items[16], "trie branch value")
                break
            reference = items[path[at]]
            at += 1
            if reference == b"":
                raise VerificationError("the key is not in the trie (an empty branch slot)")
            continue
        if len(items) != 2:
            raise VerificationError(f"trie node has {len(items)} items, not 2 or 17")
        segment, leaf = read_hex_prefix(rlp.as_bytes(items[0], "trie node path"))
        if tuple(path[at : at + len(segment)]) != segment:
            raise VerificationError("the key is not in the trie (its path leaves the proof's)")
        at += len(segment)
        if leaf:
            if at != len(path):
                raise VerificationError("the key is not in the trie (a leaf ends before it)")
            value = rlp.as_bytes(items[1], "trie leaf value")
            break
        reference = items[1]
    if used != len(proof):
        raise VerificationError(f"trie proof holds {len(proof) - used} nodes past the value")
    if not value:
        raise VerificationError("the key is not in the trie (an empty value)")
    return value
