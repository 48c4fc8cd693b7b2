"""The sealer's fast reader: never accepts what the general decoder rejects, never differs from it.

Every test that takes ``read_batch`` runs against the pure module and against its mypyc build
(:mod:`provledger.events.compiled`), which the sealer runs when it is built: CI builds it.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastavro import schemaless_writer
from hypothesis import given
from hypothesis import strategies as st
from tests.helpers.event_strategies import events, sample_event

from provledger.errors import InvalidEvent
from provledger.events import compiled, limits, reader
from provledger.events.binary import array_of, event_body
from provledger.events.codec import batch_header, decode_record, encode_record
from provledger.events.model import Event
from provledger.events.rows import EventRow
from provledger.events.schemas import registry
from provledger.sealer.intake import accept

Reader = Callable[[bytes], list[EventRow] | None]
#: The source offset every record here is read at: not 0, so a reader that drops it shows.
OFFSET = 41
READERS = [
    pytest.param(lambda value: reader.read_batch(value, OFFSET), id="pure"),
    pytest.param(
        lambda value: compiled.read_batch(value, OFFSET),
        id="mypyc",
        marks=pytest.mark.skipif(
            not compiled.COMPILED,
            reason="the compiled reader is not built for this source: python -m provledger.events.compiled",
        ),
    ),
]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "read_batch" in metafunc.fixturenames:
        metafunc.parametrize("read_batch", READERS)


def test_the_compiled_reader_is_built_where_it_is_required() -> None:
    """CI (``.ci/run``) requires the build, so the reader the sealer and the image run is tested."""
    if not os.environ.get("PROVLEDGER_REQUIRE_COMPILED_READER"):
        pytest.skip("PROVLEDGER_REQUIRE_COMPILED_READER is not set: a machine without a compiler runs pure")
    assert compiled.COMPILED, "make install did not build the compiled reader; see its output"


def test_an_edited_reader_never_runs_a_stale_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    edited = tmp_path / "reader.py"
    edited.write_bytes(Path(reader.__file__).read_bytes() + b"\n# edited\n")
    monkeypatch.setattr(reader, "__file__", str(edited))
    assert compiled.load() is None


def test_an_edited_limit_never_runs_a_stale_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """mypyc copies ``Final`` constants of provledger.events.limits into the build."""
    edited = tmp_path / "limits.py"
    source = Path(limits.__file__).read_bytes()
    edited.write_bytes(source.replace(b"MAX_TEXT_BYTES: Final = 1024", b"MAX_TEXT_BYTES: Final = 9"))
    assert edited.read_bytes() != source
    monkeypatch.setattr(limits, "__file__", str(edited))
    assert compiled.load() is None


V7 = "01938a6e-7c00-7abc-8def-0123456789ab"
RUN = "01938a6e-7c00-7000-8000-000000000001"
DIGEST = "sha256:" + "ab" * 32


def _expected(event: Event) -> EventRow:
    """The row the sealer's general path makes of ``event``: what the fast path must make too."""
    return accept(event, OFFSET)


def _general(value: bytes) -> list[EventRow] | None:
    """What the general path makes of ``value``, in the reader's terms (None: rejected).

    The record limit is the sealer's to check before either path; here it is set above every
    record these tests make, so only the rules inside a record are compared.
    """
    try:
        return [_expected(event) for event in decode_record(value, max_bytes=64 << 20)]
    except InvalidEvent:
        return None


def _record(*records: dict[str, Any]) -> bytes:
    """A record written by fastavro's generic writer, which checks types but none of our rules."""
    body = io.BytesIO()
    schemaless_writer(body, registry().current.batch, {"events": list(records)})
    return batch_header() + body.getvalue()


@given(st.lists(events(), min_size=1, max_size=5))
def test_every_valid_batch_the_sdk_writes_is_read_exactly_as_the_general_path_reads_it(
    read_batch: Reader, batch: list[Event]
) -> None:
    value = encode_record(batch)
    assert read_batch(value) == [_expected(event) for event in batch]


_LONG, _WIDE = "x" * 1024, "é" * 1024  # at the limit of 1024 characters (the second in 2048 bytes)
_REF = {"namespace": "ns", "name": "n", "digest": DIGEST, "kind": "model", "version": None}
# Values at either side of each rule's boundary, by the path of the field they replace.
_CHANGES: list[tuple[tuple[str, ...], object]] = [
    *((("event_id",), v) for v in (V7.upper(), V7.replace("-7abc", "-4abc"), V7.replace("-8def", "-cdef"),
                                   V7.replace("-8def", "-bdef"), V7 + " ", "x")),
    *((("event_time",), v) for v in (0, -1, -62_135_596_800_000_000, -62_135_596_800_000_001,
                                     253_402_300_799_999_999, 253_402_300_800_000_000)),
    *((("producer",), v) for v in ("no-scheme", "a:\x1c", "a:b c", "a:" + "p" * 1022, "a:" + "p" * 1023,
                                   "é:x", "a:é")),
    *((("run", "run_id"), v) for v in (RUN.upper(), "{" + RUN + "}", RUN.replace("-", ""), RUN + "0")),
    *((("run", "parent_run_id"), v) for v in (RUN, RUN.upper(), None)),
    *((("job", key), v) for key in ("namespace", "name")
      for v in ("", _LONG, _LONG + "x", _WIDE, _WIDE + "é")),
    *((("inputs",), [_REF | {key: v}]) for key, values in (
        ("namespace", ("", _LONG, _LONG + "x", _WIDE)), ("name", ("", _WIDE + "é")),
        ("digest", (DIGEST.upper(), DIGEST[:-1], "sha256:" + "g" * 64, DIGEST + "\n", DIGEST + "0")),
        ("kind", ("Model", "", "m" * 64, "m" * 65, "features_v2.1-x", "1model", "modèle")),
        ("version", ("", "v1", _LONG + "x")),
    ) for v in values),
    (("outputs",), [_REF] * 1024),
    (("outputs",), [_REF] * 1025),
    *((("attributes",), [{"key": k, "value": v} for k, v in pairs]) for pairs in (
        [("a", "")], [("a", "1"), ("a", "2")], [("b", "1"), ("a", "2")], [("", "x")], [("k" * 1024, "")],
        [("k" * 1025, "")], [("a", "w" * 8192)], [("a", "w" * 8193)], [("é", "1"), ("z", "2")],
        [(f"k{i:03}", "") for i in range(256)], [(f"k{i:03}", "") for i in range(257)],
    )),
    *((("payload_digest",), v) for v in (DIGEST, "md5:00", None)),
    *((("openlineage",), v) for v in (b"{}", bytes(1 << 20), bytes((1 << 20) + 1))),
]  # fmt: skip


def _changed(record: dict[str, Any], path: tuple[str, ...], value: object) -> dict[str, Any]:
    if len(path) == 1:
        return record | {path[0]: value}
    return record | {path[0]: _changed(record[path[0]], path[1:], value)}


def _check_changed(
    read_batch: Reader, changes: list[tuple[tuple[str, ...], object]], *before: dict[str, Any]
) -> None:
    record = sample_event().to_avro()
    for path, value in changes:
        record = _changed(record, path, value)
    value = _record(*before, record)
    general = _general(value)
    fast = read_batch(value)
    assert fast is None or fast == general
    keys = [pair["key"] for pair in record["attributes"]]
    if general is not None and keys == sorted(keys):
        assert fast == general  # a valid record in the canonical encoding takes the fast path


@pytest.mark.parametrize(("path", "value"), _CHANGES, ids=lambda v: repr(v)[:40])
def test_each_rule_is_the_general_paths_at_its_boundary(
    read_batch: Reader, path: tuple[str, ...], value: object
) -> None:
    _check_changed(read_batch, [(path, value)])


@pytest.mark.parametrize(("path", "value"), _CHANGES, ids=lambda v: repr(v)[:40])
def test_each_rule_holds_for_an_event_after_a_valid_one_of_the_same_record(
    read_batch: Reader, path: tuple[str, ...], value: object
) -> None:
    """The reader checks a value the record repeats once; a changed repeat is checked again."""
    _check_changed(read_batch, [(path, value)], sample_event().to_avro())


@given(st.lists(st.sampled_from(_CHANGES), min_size=2, max_size=3))
def test_rules_together_are_the_general_paths(
    read_batch: Reader, changes: list[tuple[tuple[str, ...], object]]
) -> None:
    _check_changed(read_batch, changes)


@given(st.lists(events(), min_size=1, max_size=3), st.data())
def test_corrupted_records_are_read_like_the_general_path_or_left_to_it(
    read_batch: Reader, batch: list[Event], data: st.DataObject
) -> None:
    value = bytearray(encode_record(batch))
    for _ in range(data.draw(st.integers(1, 3))):
        index = data.draw(st.integers(10, len(value) - 1))
        if data.draw(st.booleans()):
            value[index] = data.draw(st.integers(0, 255))
        else:
            del value[index]
    fast = read_batch(bytes(value))
    if fast is not None:
        assert fast == _general(bytes(value))


# The sample event's attributes as Avro binary: ("epochs", "90") and ("lr", "0.1").
EPOCHS, LR = b"\x0cepochs\x0490", b"\x04lr\x060.1"


def _varint_padded(body: bytes, prefix: bytes) -> bytes:
    """``body`` with the one-byte length after ``prefix`` respelled in two bytes (valid Avro)."""
    at = body.index(prefix) + len(prefix)
    return body[:at] + bytes([body[at] | 0x80, 0]) + body[at + 1 :]


@pytest.mark.parametrize(
    "respell",
    [
        pytest.param(lambda body: _varint_padded(body, b""), id="a longer spelling of a length"),
        pytest.param(
            lambda body: body.replace(b"\x04" + EPOCHS + LR + b"\x00", b"\x04" + LR + EPOCHS + b"\x00"),
            id="attributes out of order",
        ),
        pytest.param(
            lambda body: body.replace(b"\x04" + EPOCHS + LR, b"\x02" + EPOCHS + b"\x02" + LR),
            id="an array in two blocks",
        ),
    ],
)  # fmt: skip
def test_other_valid_spellings_are_left_to_the_general_path(read_batch: Reader, respell: Any) -> None:
    event = sample_event()
    body = respell(event_body(event))
    assert body != event_body(event)
    value = batch_header() + array_of([body])
    assert read_batch(value) is None
    assert decode_record(value) == [event]  # the general path still seals it, canonically re-encoded


def test_records_the_general_path_rejects_are_left_to_it(read_batch: Reader) -> None:
    good = sample_event()
    bad = _record(good.to_avro() | {"event_id": V7.upper()})
    assert read_batch(bad) is None
    with pytest.raises(InvalidEvent) as raised:
        decode_record(bad)
    assert raised.value.reason == "bad_event_id"
    assert read_batch(encode_record([good]) + b"\x00") is None  # bytes left over
    assert read_batch(encode_record([good])[:-1]) is None  # truncated
    assert read_batch(batch_header() + b"\x00") is None  # empty batch
    odd_union = event_body(good)[:-2] + b"\x01\x00"  # union branch -1 for payload_digest
    assert read_batch(batch_header() + array_of([odd_union])) is None
