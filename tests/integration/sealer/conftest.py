"""Fixtures of the sealer's integration tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.helpers.sealer_harness import SealerWorker, new_worker

from provledger.config import KafkaSettings


@pytest.fixture
def worker(tmp_path: Path, database_url: str, kafka_settings: KafkaSettings) -> SealerWorker:
    """A sealer worker process on the test's database and topics, not yet started."""
    return new_worker(tmp_path, database_url, kafka_settings)
