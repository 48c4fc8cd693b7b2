"""Problem bodies are written out directly; they must stay what the documented model says."""

from __future__ import annotations

import json

from starlette.requests import Request

from provledger.api.problems import PROBLEM_MEDIA_TYPE, Problem, ProblemItem, problem_response


def _request(path: str) -> Request:
    return Request({"type": "http", "method": "POST", "path": path, "headers": [], "query_string": b""})


def test_a_problem_body_is_the_documented_model_with_nothing_empty() -> None:
    items = [ProblemItem(location="events[3]", reason="bad_text", detail="remove the NUL character")]
    response = problem_response(
        _request("/api/v1/lineage"), 400, "invalid-run-events", "fix event 3", errors=items
    )
    body = json.loads(bytes(response.body))
    expected = Problem(
        type="/problems/invalid-run-events",
        title="Bad request",
        status=400,
        detail="fix event 3",
        instance="/api/v1/lineage",
        errors=items,
    )
    assert body == expected.model_dump(mode="json", exclude_none=True)
    assert response.status_code == 400
    assert response.media_type == PROBLEM_MEDIA_TYPE


def test_a_problem_without_errors_has_no_errors_member() -> None:
    response = problem_response(
        _request("/v1/runs"), 418, "teapot", "no coffee here", headers={"Retry-After": "2"}
    )
    body = json.loads(bytes(response.body))
    assert body == {
        "type": "/problems/teapot",
        "title": "Error",
        "status": 418,
        "detail": "no coffee here",
        "instance": "/v1/runs",
    }
    assert response.headers["retry-after"] == "2"
