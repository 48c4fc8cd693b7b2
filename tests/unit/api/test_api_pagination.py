"""Cursors and time parameters: what the API makes round-trips, anything else is a 400, never a crash."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from provledger.api.pagination import (
    BIGINT_KEY,
    MICROS_KEY,
    SHARD_KEY,
    SIDE_KEY,
    TEXT_KEY,
    KeyPart,
    decode_cursor,
    encode_cursor,
    moment,
    uuid_key,
)
from provledger.api.params import INT4_MAX, INT8_MAX, UtcMoment, in_utc
from provledger.api.problems import ProblemError

#: The key shapes of every paginated endpoint.
SHAPES: list[tuple[KeyPart, ...]] = [
    (SHARD_KEY,),
    (BIGINT_KEY,),
    (moment,),
    (moment, uuid_key),
    (MICROS_KEY, TEXT_KEY),
    (SIDE_KEY, BIGINT_KEY),
]


def _raw(text: str) -> str:
    """A cursor over arbitrary JSON text, as a client could forge it."""
    return base64.urlsafe_b64encode(text.encode("utf-8", "surrogatepass")).decode().rstrip("=")


def _refused(cursor: str, parts: tuple[KeyPart, ...]) -> None:
    with pytest.raises(ProblemError) as raised:
        decode_cursor(cursor, parts)
    assert (raised.value.status, raised.value.slug) == (400, "invalid-cursor")


def test_cursors_the_api_makes_decode_to_their_keys() -> None:
    when = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    event_id = uuid.uuid4()
    assert decode_cursor(encode_cursor([when.isoformat(), str(event_id)]), (moment, uuid_key)) == (
        when,
        event_id,
    )
    assert decode_cursor(encode_cursor([INT4_MAX]), (SHARD_KEY,)) == (INT4_MAX,)
    assert decode_cursor(encode_cursor([INT8_MAX]), (BIGINT_KEY,)) == (INT8_MAX,)
    assert decode_cursor(encode_cursor([1, 7]), (SIDE_KEY, BIGINT_KEY)) == (1, 7)
    run_id = str(uuid.uuid4())
    assert decode_cursor(encode_cursor([-(10**15), run_id]), (MICROS_KEY, TEXT_KEY)) == (-(10**15), run_id)


@pytest.mark.parametrize(
    ("cursor", "parts"),
    [
        pytest.param("WzkwMDAwMDAwMDAwMDAwMDAwMDAsImEiXQ", (MICROS_KEY, TEXT_KEY), id="issue-15-overflow"),
        (encode_cursor([INT4_MAX + 1]), (SHARD_KEY,)),
        (encode_cursor([-1]), (SHARD_KEY,)),
        (encode_cursor([INT8_MAX + 1]), (BIGINT_KEY,)),
        (encode_cursor([2, 7]), (SIDE_KEY, BIGINT_KEY)),
        (_raw("[true]"), (BIGINT_KEY,)),
        (_raw("[7.0]"), (BIGINT_KEY,)),
        (_raw('["7"]'), (BIGINT_KEY,)),
        (encode_cursor([7, 8]), (BIGINT_KEY,)),
        (_raw("{}"), (BIGINT_KEY,)),
        ("!!", (BIGINT_KEY,)),
        ("é", (BIGINT_KEY,)),
        (base64.urlsafe_b64encode(b'["\xff"]').decode(), (TEXT_KEY,)),
        (_raw('["\\u0000"]'), (TEXT_KEY,)),
        (_raw('["\\ud800"]'), (TEXT_KEY,)),
        (encode_cursor(["x" * 257]), (TEXT_KEY,)),
        (encode_cursor(["9999-12-31T23:59:59-23:59"]), (moment,)),
        (encode_cursor(["0001-01-01T00:00:00+01:00"]), (moment,)),
        (encode_cursor(["2026-11-24T10:00:00"]), (moment,)),
        (encode_cursor(["yesterday"]), (moment,)),
        (encode_cursor(["2026-11-24T10:00:00+00:00", "not-a-uuid"]), (moment, uuid_key)),
        (_raw("[" * 100_000 + "]" * 100_000), (BIGINT_KEY,)),
    ],
)
def test_forged_or_out_of_range_cursors_are_400(cursor: str, parts: tuple[KeyPart, ...]) -> None:
    _refused(cursor, parts)


def test_micros_keys_stay_within_what_datetime_can_hold() -> None:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    for edge in (datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)):
        micros = (edge - epoch) // timedelta(microseconds=1)
        (key,) = decode_cursor(encode_cursor([micros]), (MICROS_KEY,))
        assert epoch + timedelta(microseconds=key) == edge
        _refused(encode_cursor([micros + (1 if micros > 0 else -1)]), (MICROS_KEY,))


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=6,
)


@given(key=st.lists(_JSON, max_size=3), shape=st.sampled_from(SHAPES))
def test_any_json_key_is_accepted_within_range_or_refused_with_400(
    key: list[Any], shape: tuple[KeyPart, ...]
) -> None:
    refused: ProblemError | None = None
    decoded: tuple[Any, ...] = ()
    try:
        decoded = decode_cursor(_raw(json.dumps(key)), shape)
    except ProblemError as exc:
        refused = exc
    assert refused is None or refused.status == 400
    for value in decoded:
        if isinstance(value, int):
            assert -(2**63) <= value <= INT8_MAX
        elif isinstance(value, str):
            assert "\x00" not in value
            value.encode()
        elif isinstance(value, datetime):
            assert value.tzinfo is UTC


def test_time_parameters_must_fit_in_utc() -> None:
    adapter: TypeAdapter[datetime | None] = TypeAdapter(
        cast("Any", UtcMoment)
    )  # an Annotated alias, not a class
    assert adapter.validate_python("2026-11-24T10:00:00+02:00") == datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    assert adapter.validate_python(None) is None
    for bad in ("9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+00:01", "2026-11-24T10:00:00"):
        with pytest.raises(ValidationError):
            adapter.validate_python(bad)
    with pytest.raises(ValueError, match=r"outside 0001-01-01\.\.9999-12-31"):
        in_utc(datetime(9999, 12, 31, 23, 0, tzinfo=timezone(-timedelta(hours=2))))
