"""Block headers: the fixed layout round-trips, tampering is caught, chains and rotation hold."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest
from tests.helpers.ledger_sealing import LOG_ID, T0, fixed_key, sealed_shard

from provledger.errors import VerificationError
from provledger.ledger.block import (
    BLOCK_SIGNATURE_DOMAIN,
    GENESIS_PREV_HASH,
    HEADER_SIZE,
    BlockHeader,
    block_hash,
    sign_header,
    verify_chain,
    verify_header_signature,
)
from provledger.ledger.keys import KeySet, TrustedKey


def _header(**changes: object) -> BlockHeader:
    fields: dict[str, object] = {
        "version": 1,
        "log_id": LOG_ID,
        "shard": 7,
        "height": 0,
        "prev_block_hash": GENESIS_PREV_HASH,
        "batch_root": b"\x11" * 32,
        "tree_size": 4,
        "log_root": b"\x22" * 32,
        "first_offset": 10,
        "last_offset": 12,
        "event_count": 4,
        "min_event_time": T0,
        "max_event_time": T0 + 5,
        "sealed_at": T0 + 9,
        "key_id": b"\xaa\xbb\xcc\xdd",
    }
    return BlockHeader(**(fields | changes))  # type: ignore[arg-type]


def test_canonical_bytes_follow_the_documented_layout() -> None:
    header = _header()
    data = header.to_bytes()
    assert len(data) == HEADER_SIZE == 186
    assert data[:6] == b"PLBH\x00\x01"
    assert data[6:22] == LOG_ID
    assert data[22:26] == (7).to_bytes(4, "big")
    assert data[34:66] == bytes(32)  # the genesis block links to 32 zero bytes
    assert data[98:106] == (4).to_bytes(8, "big")
    assert data[158:166] == T0.to_bytes(8, "big", signed=True)
    assert data[182:] == b"\xaa\xbb\xcc\xdd"
    assert BlockHeader.from_bytes(data) == header
    assert block_hash(header) == hashlib.sha256(data).digest()


def test_negative_event_times_round_trip() -> None:
    header = _header(min_event_time=-5, max_event_time=-1)
    assert BlockHeader.from_bytes(header.to_bytes()) == header


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"version": 2}, "version 2"),
        ({"log_id": b"short"}, "log_id has 5 bytes"),
        ({"key_id": b"\x00" * 5}, "key_id has 5 bytes"),
        ({"batch_root": b"\x00" * 31}, "batch_root has 31 bytes"),
        ({"event_count": 0, "tree_size": 0}, "event_count 0"),
        ({"tree_size": 3}, "tree_size 3 < event_count"),
        ({"first_offset": 13}, "offsets"),
        ({"min_event_time": T0 + 6}, "event times"),
        ({"shard": 1 << 32}, "not a uint32"),
        ({"height": 1}, "all zeros exactly at height 0"),
        ({"prev_block_hash": b"\x01" * 32}, "all zeros exactly at height 0"),
        ({"height": 1, "prev_block_hash": b"\x01" * 32, "tree_size": 3}, "tree_size 3 < event_count"),
        ({"tree_size": 5}, "at height 0, tree_size is event_count"),
    ],
)
def test_invalid_headers_do_not_build(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _header(**changes)


def test_foreign_bytes_are_rejected_as_verification_errors() -> None:
    data = _header().to_bytes()
    with pytest.raises(VerificationError, match="186 bytes"):
        BlockHeader.from_bytes(data + b"\x00")
    with pytest.raises(VerificationError, match="magic"):
        BlockHeader.from_bytes(b"XXXX" + data[4:])
    with pytest.raises(VerificationError, match="version"):
        BlockHeader.from_bytes(data[:4] + b"\x00\x02" + data[6:])
    with pytest.raises(VerificationError, match="event times"):
        BlockHeader.from_bytes(data[:158] + (T0 + 99).to_bytes(8, "big") + data[166:])


def test_signature_verifies_and_every_flipped_byte_fails() -> None:
    key = fixed_key()
    header = _header(key_id=key.key_id)
    signature = sign_header(header, key)
    keyset = KeySet.of([key.verifier])
    assert verify_header_signature(header, signature, keyset).verifier == key.verifier
    assert key.verifier.verify(BLOCK_SIGNATURE_DOMAIN + header.to_bytes(), signature)
    data = header.to_bytes()
    for position in range(0, HEADER_SIZE, 5):
        tampered = bytearray(data)
        tampered[position] ^= 0x01
        try:
            other = BlockHeader.from_bytes(bytes(tampered))
        except VerificationError:
            continue  # the tamper broke an invariant: rejected anyway
        with pytest.raises(VerificationError):
            verify_header_signature(other, signature, keyset)
    with pytest.raises(VerificationError, match="does not verify"):
        verify_header_signature(header, signature[:-1] + bytes([signature[-1] ^ 1]), keyset)


def test_signing_with_a_key_the_header_does_not_name_is_refused() -> None:
    with pytest.raises(ValueError, match="names key id"):
        sign_header(_header(), fixed_key())


def test_key_rotation_binds_keys_to_their_validity_range() -> None:
    old, new = fixed_key(seed=1), fixed_key(seed=2)
    cutover = T0 + 100
    keyset = KeySet((TrustedKey(old.verifier, 0, cutover), TrustedKey(new.verifier, cutover)))
    before = _header(key_id=old.key_id, sealed_at=cutover - 1)
    after = _header(key_id=new.key_id, sealed_at=cutover)
    assert verify_header_signature(before, sign_header(before, old), keyset).verifier == old.verifier
    assert verify_header_signature(after, sign_header(after, new), keyset).verifier == new.verifier
    # A retired key cannot sign a block sealed after its range, nor a new key before its own.
    late = _header(key_id=old.key_id, sealed_at=cutover)
    with pytest.raises(VerificationError, match=r"not valid at .*valid \[0, "):
        verify_header_signature(late, sign_header(late, old), keyset)
    early = _header(key_id=new.key_id, sealed_at=cutover - 1)
    with pytest.raises(VerificationError, match="not valid at"):
        verify_header_signature(early, sign_header(early, new), keyset)
    stranger = fixed_key(seed=3)
    foreign = _header(key_id=stranger.key_id)
    with pytest.raises(VerificationError, match="no trusted key has key id"):
        verify_header_signature(foreign, sign_header(foreign, stranger), keyset)


def test_sealed_chain_verifies_and_broken_links_are_named() -> None:
    key = fixed_key()
    headers = sealed_shard(key).headers
    verify_chain(headers)
    verify_chain(headers[1:])  # a segment from the middle
    verify_chain([])
    second = headers[1]
    cases = {
        "follows height": [headers[0], headers[2]],
        "prev_block_hash": [headers[0], dataclasses.replace(second, prev_block_hash=b"\x05" * 32)],
        "tree_size": [headers[0], dataclasses.replace(second, tree_size=second.tree_size + 1)],
        "log and shard": [headers[0], dataclasses.replace(second, shard=9)],
        "first offset": [headers[0], dataclasses.replace(second, first_offset=0)],
    }
    for message, chain in cases.items():
        with pytest.raises(VerificationError, match=message):
            verify_chain(chain)


def test_a_record_split_across_blocks_may_share_its_offset() -> None:
    headers = sealed_shard(fixed_key()).headers
    shared = dataclasses.replace(
        headers[1], first_offset=headers[0].last_offset, last_offset=headers[1].last_offset
    )
    verify_chain([headers[0], shared])
