"""C2SP tlog-witness bodies: the spec's own examples, strict refusals, hypothesis properties of the parser."""

from __future__ import annotations

import base64
import contextlib
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provledger.errors import VerificationError
from provledger.ledger.cosignature import cosignature_timestamp, cosigned_message
from provledger.ledger.note import parse_note
from provledger.witness.protocol import (
    MAX_PROOF_LINES,
    MalformedRequest,
    checkpoint_path,
    format_add_checkpoint,
    format_cosignatures,
    format_size,
    parse_add_checkpoint,
    parse_cosignatures,
    parse_size,
)

# The example request body of C2SP tlog-witness, "add-checkpoint", byte for byte.
SPEC_CHECKPOINT = (
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n"
    "\u2014 example.com/behind-the-sofa "
    "Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
    "\u2014 example.com/behind-the-sofa "
    "opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=\n"
)
SPEC_PROOF = (
    "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=",
    "jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=",
    "5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=",
    "/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=",
)
SPEC_BODY = ("old 20852014\n" + "".join(line + "\n" for line in SPEC_PROOF) + "\n" + SPEC_CHECKPOINT).encode()
# C2SP tlog-cosignature's example cosignature line, and the signed message it shows for it.
SPEC_COSIGNATURE = (
    "\u2014 witness.example.com/w1 "
    "jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
)
SPEC_COSIGNED_MESSAGE = (
    b"cosignature/v1\ntime 1679315147\n"
    b"example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
)

HASH = st.binary(min_size=32, max_size=32)


def test_the_spec_example_request_parses() -> None:
    request = parse_add_checkpoint(SPEC_BODY)
    assert request.old_size == 20852014
    assert [base64.b64encode(h).decode() for h in request.proof] == list(SPEC_PROOF)
    assert (request.checkpoint.origin, request.checkpoint.size) == ("example.com/behind-the-sofa", 20852163)
    assert request.signed_note == SPEC_CHECKPOINT
    assert [s.name for s in request.note.signatures] == ["example.com/behind-the-sofa"] * 2
    # ... and the client side writes exactly the spec's bytes.
    assert format_add_checkpoint(request.old_size, request.proof, request.signed_note) == SPEC_BODY


def test_the_spec_example_cosignature_states_its_time_and_message() -> None:
    checkpoint_text = parse_note(SPEC_CHECKPOINT).text
    (line,) = parse_cosignatures(SPEC_COSIGNATURE.encode(), SPEC_CHECKPOINT.split("\n\n")[0] + "\n")
    assert (line.name, line.key_id.hex()) == ("witness.example.com/w1", "8d66cf3f")
    assert cosignature_timestamp(line.signature) == 1679315147
    assert cosigned_message(1679315147, checkpoint_text.encode()) == SPEC_COSIGNED_MESSAGE
    assert format_cosignatures([line]).decode() == SPEC_COSIGNATURE


def test_size_answers_and_monitoring_path() -> None:
    assert format_size(0) == b"0\n"
    assert parse_size(b"20852163\n") == 20852163
    for bad in (b"012\n", b"12", b"12\n\n", b"-1\n", b"1 \n", b"%d\n" % (1 << 64)):
        with pytest.raises(VerificationError):
            parse_size(bad)
    digest = hashlib.sha256(b"example.com/behind-the-sofa").hexdigest()
    assert checkpoint_path("example.com/behind-the-sofa") == f"/{digest}/checkpoint"


def _body(old: str | None, proof: list[str], checkpoint: str = SPEC_CHECKPOINT) -> bytes:
    return (
        (f"old {old}\n" if old is not None else "").encode()
        + "".join(p + "\n" for p in proof).encode()
        + b"\n"
        + checkpoint.encode()
    )


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "no empty line"),
        (SPEC_BODY.replace(b"\n\nexample.com", b"\nexample.com", 1), "no empty line|consistency proof line"),
        (_body("020852014", []), "old <size>"),
        (_body("-1", []), "old <size>"),
        (_body(" 1", []), "old <size>"),
        (_body("1 ", []), "old <size>"),
        (b"OLD 1\n\n" + SPEC_CHECKPOINT.encode(), "old <size>"),
        (b"old 1\r\n\n" + SPEC_CHECKPOINT.encode(), "old <size>"),
        (_body(str(1 << 64), []), "uint64"),
        (_body("1", ["PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw"]), "not valid base64|canonical"),
        (_body("1", ["PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkax="]), "canonical"),
        (_body("1", [base64.b64encode(bytes(31)).decode()]), "not a SHA-256 hash"),
        (_body("1", [base64.b64encode(bytes(32)).decode() + " "]), "base64"),
        (_body("1", [base64.b64encode(bytes(32)).decode()] * (MAX_PROOF_LINES + 1)), "more than 63"),
        (_body("1", [], "example.com/log\n1\n"), "not a signed tlog checkpoint"),
        (_body("1", [], SPEC_CHECKPOINT.replace("20852163", "020852163")), "not a signed tlog checkpoint"),
        (_body("1", [], SPEC_CHECKPOINT.split("\u2014")[0]), "not a signed tlog checkpoint"),
        (
            _body("1", [], SPEC_CHECKPOINT.replace("\n\u2014", "\n\u2014\t", 1)),
            "not a signed tlog checkpoint",
        ),
        (b"old 1\n\n\xff" + SPEC_CHECKPOINT.encode(), "not a signed tlog checkpoint"),
    ],
)
def test_malformed_bodies_are_refused_with_a_reason(body: bytes, reason: str) -> None:
    with pytest.raises(MalformedRequest, match=reason):
        parse_add_checkpoint(body)


def test_exactly_63_proof_lines_are_accepted() -> None:
    body = _body("1", [base64.b64encode(bytes([i]) * 32).decode() for i in range(MAX_PROOF_LINES)])
    assert len(parse_add_checkpoint(body).proof) == MAX_PROOF_LINES
    with pytest.raises(ValueError, match="more than 63"):
        format_add_checkpoint(1, [bytes(32)] * 64, SPEC_CHECKPOINT)


@given(old=st.integers(0, (1 << 64) - 1), proof=st.lists(HASH, max_size=MAX_PROOF_LINES))
def test_what_a_client_formats_the_witness_parses(old: int, proof: list[bytes]) -> None:
    request = parse_add_checkpoint(format_add_checkpoint(old, proof, SPEC_CHECKPOINT))
    assert (request.old_size, request.proof, request.signed_note) == (old, tuple(proof), SPEC_CHECKPOINT)


@given(st.binary(max_size=600))
def test_any_bytes_parse_or_are_refused_as_malformed(body: bytes) -> None:
    with contextlib.suppress(MalformedRequest):
        parse_add_checkpoint(body)


@given(position=st.integers(0, len(SPEC_BODY) - 1), byte=st.integers(0, 255))
def test_a_changed_byte_is_refused_or_parses_to_what_it_says(position: int, byte: int) -> None:
    body = SPEC_BODY[:position] + bytes([byte]) + SPEC_BODY[position + 1 :]
    try:
        request = parse_add_checkpoint(body)
    except MalformedRequest:
        return
    # Whatever still parses is read back to the same bytes: nothing is dropped or guessed.
    assert format_add_checkpoint(request.old_size, request.proof, request.signed_note) == body


@given(
    header=st.lists(st.sampled_from(["old 1", "old 0", "", "AAAA", "old", "\u2014", " "]), max_size=5),
    tail=st.text(max_size=50),
)
def test_line_soup_parses_or_is_refused_as_malformed(header: list[str], tail: str) -> None:
    with contextlib.suppress(MalformedRequest):
        parse_add_checkpoint(("\n".join(header) + "\n" + tail).encode())
