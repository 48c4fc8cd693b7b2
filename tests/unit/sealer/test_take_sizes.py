"""The sealer's takes and Faust's buffer are bounded by bytes of the largest records, not by records alone."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from provledger.config import SealerSettings, load
from provledger.sealer.app import RECORD_BUFFER_BYTES, TakeSizes

max_records = st.integers(min_value=1, max_value=100_000)
record_bytes = st.integers(min_value=64 << 10, max_value=64 << 20)


@given(max_records, record_bytes)
def test_buffer_and_take_fit_the_budget_of_largest_records(
    batch_max_records: int, max_record_bytes: int
) -> None:
    sizes = TakeSizes.sized(batch_max_records, max_record_bytes)
    assert 1 <= sizes.take <= batch_max_records
    assert sizes.buffered == 2 * sizes.take
    if sizes.take > 1:  # one record is always taken, however large
        assert (sizes.take + sizes.buffered) * max_record_bytes <= RECORD_BUFFER_BYTES


def test_defaults_take_sixteen_records_of_one_mebibyte() -> None:
    settings = load(SealerSettings)
    assert TakeSizes.sized(settings.batch_max_records, settings.max_record_bytes) == TakeSizes(16, 32)


def test_small_records_take_what_the_setting_allows() -> None:
    assert TakeSizes.sized(5, 64 << 10) == TakeSizes(5, 10)


def test_records_larger_than_the_budget_are_taken_one_at_a_time() -> None:
    assert TakeSizes.sized(100, 64 << 20) == TakeSizes(1, 2)
