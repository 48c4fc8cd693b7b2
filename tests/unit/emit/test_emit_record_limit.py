"""The SDK keeps to the one record limit (PROVLEDGER_MAX_RECORD_BYTES) the sealer enforces."""

from __future__ import annotations

import pytest

from provledger.config import KafkaSettings, load
from provledger.emit.batcher import RECORD_OVERHEAD
from provledger.emit.core import EmitterCore
from provledger.emit.options import EmitterOptions
from provledger.errors import ConfigurationError, InvalidEvent

SETTINGS = load(KafkaSettings, kafka_bootstrap="127.0.0.1:9", max_record_bytes=64 << 10)


def test_batches_larger_than_the_record_limit_are_refused_when_the_emitter_is_built() -> None:
    with pytest.raises(ConfigurationError, match="PROVLEDGER_MAX_RECORD_BYTES"):
        EmitterCore(SETTINGS, EmitterOptions(max_batch_bytes=(64 << 10) + 1), None)


def test_an_event_too_large_for_a_record_is_refused_before_it_is_queued() -> None:
    core = EmitterCore(SETTINGS, EmitterOptions(max_batch_bytes=32 << 10), None)
    with pytest.raises(InvalidEvent) as caught:
        core.try_add(b"key", bytes((64 << 10) - RECORD_OVERHEAD + 1))
    assert caught.value.reason == "oversized"
    assert core.accepted == 0


def test_the_default_record_limit_is_kafkas_default_message_size() -> None:
    assert load(KafkaSettings).max_record_bytes == 1 << 20
