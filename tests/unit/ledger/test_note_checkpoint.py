"""C2SP signed notes, tlog checkpoints and Ed25519 cosignatures: vectors, round trips, tampering."""

from __future__ import annotations

import hashlib

import pytest
from tests.helpers import rfc9162_reference as ref
from tests.helpers.ledger_sealing import LOG_ORIGIN, fixed_key, sealed_shard
from tests.helpers.published_keys import SPEC_VKEY, go_signing_key

from provledger.errors import VerificationError
from provledger.ledger.block import block_hash
from provledger.ledger.checkpoint import (
    Checkpoint,
    ShardHead,
    heads_checkpoint,
    open_checkpoint,
    shard_checkpoint,
    shard_heads,
    sign_checkpoint,
)
from provledger.ledger.cosignature import CosignatureVerifier, cosign, cosignature_timestamp, cosigner
from provledger.ledger.keys import VerifierKey
from provledger.ledger.note import open_note, parse_note, sign_note

SPEC_NOTE = (
    "This is an example message.\n\n"
    "\u2014 example.com/foo "
    "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT + "\n\u2014 PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


def test_spec_example_note_verifies() -> None:
    opened = open_note(SPEC_NOTE, [VerifierKey.parse(SPEC_VKEY)])
    assert opened.text == "This is an example message.\n"
    assert [(s.name, s.key_id.hex()) for s in opened.verified] == [("example.com/foo", "530d903a")]
    assert open_note(SPEC_NOTE.encode(), [VerifierKey.parse(SPEC_VKEY)]).text == opened.text


def test_go_example_is_reproduced_byte_for_byte() -> None:
    """Ed25519 is deterministic, so our signing must give Go's documented note exactly."""
    assert sign_note(GO_TEXT, [go_signing_key()]) == GO_NOTE
    assert parse_note(GO_NOTE).to_text() == GO_NOTE


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (lambda n: n.replace("example message", "exbmple message"), "does not verify"),
        (lambda n: n.replace("Uw2QOkn8", "Uw2QOkn9"), "does not verify"),
        (lambda n: n.replace("foo Uw2Q", "foo Vw2Q"), "no signature from a trusted key"),
        (lambda n: n.replace("yaQM=", "yaQN="), "canonical base64"),
        (lambda n: n[:-1], "end with a newline"),
        (lambda n: n.replace(".\n\n", ".\n"), "no blank line"),
        (lambda n: n.replace("\u2014", "-"), "em dash"),
        (lambda n: n.replace("This", "Th\u0007s"), "control character"),
        (lambda n: n.replace("message.\n", "message.\r\n"), "control character"),
        (lambda n: n + "junk\n", "em dash"),
        (lambda n: n.replace("\u2014 example.com/foo ", "\u2014 example.com/foo"), "is not"),
    ],
    ids=[
        "altered text",
        "altered signature",
        "altered key id",
        "non-canonical base64",
        "no final newline",
        "no blank line",
        "hyphen for em dash",
        "control character",
        "carriage return",
        "junk after signatures",
        "no space before signature",
    ],
)
def test_tampered_spec_note_is_rejected(tamper: object, message: str) -> None:
    assert callable(tamper)
    with pytest.raises(VerificationError, match=message):
        open_note(tamper(SPEC_NOTE), [VerifierKey.parse(SPEC_VKEY)])


def test_unknown_keys_are_ignored_and_a_note_needs_one_known_signature() -> None:
    log, witness = fixed_key(seed=1), fixed_key("witness.example/w1", seed=2)
    note = sign_note("multi\n", [log, witness])
    opened = open_note(note, [log.verifier])
    assert [s.name for s in opened.verified] == [log.name]
    # Same name as a known key but another key: ignored, so nothing known verifies.
    impostor = fixed_key(LOG_ORIGIN, seed=9)
    with pytest.raises(VerificationError, match="no signature from a trusted key"):
        open_note(sign_note("multi\n", [impostor]), [log.verifier])
    with pytest.raises(VerificationError, match="fail closed"):
        open_note(note, [])


def test_a_failing_known_signature_rejects_the_whole_note() -> None:
    good, spec = fixed_key("example.com/foo", seed=4), VerifierKey.parse(SPEC_VKEY)
    bad_line = SPEC_NOTE[SPEC_NOTE.index("\u2014") :].replace("Uw2QOkn8", "Uw2QOkn9")
    note = sign_note("This is an example message.\n", [good]) + bad_line
    with pytest.raises(VerificationError, match="does not verify"):
        open_note(note, [good.verifier, spec])


def test_text_with_blank_lines_splits_at_the_last_one() -> None:
    key = fixed_key()
    text = "para one\n\npara two\n"
    assert open_note(sign_note(text, [key]), [key.verifier]).text == text


def test_checkpoint_round_trips_through_a_signed_note() -> None:
    key = fixed_key()
    checkpoint = Checkpoint("example.com/behind-the-sofa", 20852163, b"\x0a" * 32, ("ext one", "ext two"))
    note = sign_checkpoint(checkpoint, [key])
    assert note.startswith("example.com/behind-the-sofa\n20852163\nCgoK")
    assert open_checkpoint(note, [key.verifier]) == checkpoint


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("origin\n012\n" + "A" * 43 + "=\n", "leading zeroes"),
        ("origin\n-1\n" + "A" * 43 + "=\n", "leading zeroes"),
        ("origin\n1\n" + "A" * 40 + "\n", "root has 30 bytes"),
        ("origin\n1\n" + "A" * 43 + "=\n\n", "extension line"),
        ("origin\n1\n", "at least 3 lines"),
        ("\n1\n" + "A" * 43 + "=\n", "origin"),
    ],
)
def test_malformed_checkpoints_are_rejected(text: str, message: str) -> None:
    with pytest.raises(VerificationError, match=message):
        Checkpoint.parse(text)


def test_shard_checkpoint_names_the_shard_log() -> None:
    shard = sealed_shard(fixed_key(), shard=3)
    checkpoint = shard_checkpoint(LOG_ORIGIN, shard.headers[-1])
    # Size and root of every event sealed so far, by the RFC 9162 reference, not the sealing tree.
    leaves = [hashlib.sha256(b"\x00" + event).digest() for event in shard.events]
    assert checkpoint == Checkpoint(f"{LOG_ORIGIN}/shard/3", len(shard.events), ref.mth(leaves))


def test_heads_checkpoint_commits_to_every_shard_head() -> None:
    key = fixed_key()
    heads = [
        ShardHead(s.shard, s.headers[-1].height, block_hash(s.headers[-1]))
        for s in (sealed_shard(key, (2, 2), shard=5), sealed_shard(key, (4,), shard=1))
    ]
    checkpoint = heads_checkpoint(LOG_ORIGIN, heads)
    assert checkpoint.size == 2
    assert checkpoint.extensions[0].startswith("shard 1 0 ")
    # RFC 9162 leaves of the documented head layout, written out byte by byte, in shard order.
    leaves = [
        b"PLSH" + b"\x01" + shard.to_bytes(4, "big") + height.to_bytes(8, "big") + head_hash
        for shard, height, head_hash in sorted((h.shard, h.height, h.block_hash) for h in heads)
    ]
    assert [len(leaf) for leaf in leaves] == [49, 49]
    assert checkpoint.root == ref.mth([hashlib.sha256(b"\x00" + leaf).digest() for leaf in leaves])
    opened = open_checkpoint(sign_checkpoint(checkpoint, [key]), [key.verifier])
    assert shard_heads(opened) == tuple(sorted(heads, key=lambda h: h.shard))

    swapped = Checkpoint(checkpoint.origin, 2, checkpoint.root, checkpoint.extensions[::-1])
    with pytest.raises(VerificationError, match="increasing shard order"):
        shard_heads(swapped)
    forged = ShardHead(1, 9, heads[1].block_hash).extension_line()
    with pytest.raises(VerificationError, match="do not hash to the checkpoint root"):
        shard_heads(Checkpoint(checkpoint.origin, 2, checkpoint.root, (forged, checkpoint.extensions[1])))
    with pytest.raises(VerificationError, match="size 3"):
        shard_heads(Checkpoint(checkpoint.origin, 3, checkpoint.root, checkpoint.extensions))
    with pytest.raises(ValueError, match="two heads for shard 1"):
        heads_checkpoint(LOG_ORIGIN, [heads[1], heads[1]])


def test_cosignature_is_verifiable_by_its_type_04_key_only() -> None:
    log, witness = fixed_key(seed=1), fixed_key("witness.example/w1", seed=2)
    signed = sign_checkpoint(Checkpoint(LOG_ORIGIN, 5, b"\x01" * 32), [log])
    cosigned = cosign(signed, witness, timestamp=1679315147)
    verifier = cosigner(witness)
    assert verifier.key_id != witness.key_id  # type 0x04 derives another id from the same key
    assert CosignatureVerifier.parse(verifier.verifier_key_string()) == verifier
    opened = open_note(cosigned, [log.verifier, verifier])
    assert [s.name for s in opened.verified] == [log.name, witness.name]
    assert cosignature_timestamp(opened.verified[1].signature) == 1679315147
    # The cosignature covers its timestamp: changing it breaks the signature.
    line = parse_note(cosigned).signatures[1]
    moved = line.signature[:7] + bytes([line.signature[7] ^ 1]) + line.signature[8:]
    forged = (
        parse_note(cosigned).to_text().replace(line.line(), type(line)(line.name, line.key_id, moved).line())
    )
    with pytest.raises(VerificationError, match="does not verify"):
        open_note(forged, [verifier])
    # A plain Ed25519 verifier of the witness key does not know the 0x04 key id.
    with pytest.raises(VerificationError, match="no signature from a trusted key"):
        open_note(
            parse_note(cosigned).to_text().split(f"\u2014 {log.name}")[0] + line.line(), [witness.verifier]
        )
