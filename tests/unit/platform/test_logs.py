"""One log format per process, and the anchorer's lines not buried under every HTTP request."""

from __future__ import annotations

import json
import logging

import pytest

from provledger import logs


def test_httpx_requests_stay_out_of_the_log_but_its_warnings_do_not(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logs.configure("INFO", "json")
    logging.getLogger("httpx").info('HTTP Request: POST http://127.0.0.1:8545 "HTTP/1.1 200 OK"')
    logging.getLogger("httpx").warning("connection pool is full")
    logs.get_logger("provledger.anchor").info("statement anchored", seq=7)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(line["logger"], line["event"]) for line in lines] == [
        ("httpx", "connection pool is full"),
        ("provledger.anchor", "statement anchored"),
    ]
