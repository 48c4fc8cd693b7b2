"""Tokens: pure behaviour, no server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from provledger.api.tokens import (
    Scope,
    TokenStore,
    create_token,
    load_tokens,
    parse_namespaces,
    parse_scopes,
)
from provledger.errors import ConfigurationError


def test_created_tokens_are_found_by_hash_only(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    store = TokenStore(path)
    assert store.find("plt_anything") is None  # no file yet: no token is valid
    reader = create_token(path, parse_scopes("read"), "reader")
    admin = create_token(path, parse_scopes(["admin"]), "ops")
    assert reader != admin
    assert reader not in path.read_text()
    found = store.find(reader)  # the store rereads the file that changed since it was built
    assert found is not None
    assert found.name == "reader"
    assert found.allows(Scope.READ)
    assert not found.allows(Scope.EMIT)
    ops = store.find(admin)
    assert ops is not None
    assert ops.allows(Scope.ADMIN)
    assert ops.allows(Scope.READ)
    assert not ops.allows(Scope.EMIT)  # an operator's token does not write history
    assert store.find(reader + "x") is None
    assert [entry.name for entry in load_tokens(path)] == ["reader", "ops"]


@pytest.mark.parametrize("text", ["", " , ", "read,write", "READ"])
def test_bad_scopes_name_the_valid_ones(text: str) -> None:
    with pytest.raises(ConfigurationError, match="read"):
        parse_scopes(text)


def test_a_malformed_tokens_file_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text(json.dumps({"name": "a", "sha256": "00" * 32, "scopes": ["read"]}) + "\n{broken\n")
    with pytest.raises(ConfigurationError, match=r"tokens:2 is not a token entry"):
        load_tokens(path)
    path.write_text(json.dumps({"name": "a", "sha256": "00" * 31, "scopes": ["read"]}) + "\n")
    with pytest.raises(ConfigurationError, match="32 bytes"):
        load_tokens(path)


def test_namespaces_are_stored_and_bound_where_a_token_may_emit(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    scoped = create_token(path, parse_scopes("emit"), "etl", parse_namespaces(" a, b ,"))
    anywhere = create_token(path, parse_scopes("emit"), "legacy")
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[0]["namespaces"] == ["a", "b"]
    assert "namespaces" not in lines[1]  # as every line written before namespaces existed
    store = TokenStore(path)
    etl, legacy = store.find(scoped), store.find(anywhere)
    assert etl is not None
    assert legacy is not None
    assert etl.namespaces == frozenset({"a", "b"})
    assert [etl.may_emit_to(namespace) for namespace in ("a", "b", "c", "A")] == [True, True, False, False]
    assert legacy.namespaces is None
    assert legacy.may_emit_to("anything")


def test_token_names_are_unique_printable_and_namespaces_need_emit(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    create_token(path, parse_scopes("emit"), "etl")
    with pytest.raises(ConfigurationError, match="already has a token named 'etl'"):
        create_token(path, parse_scopes("read"), "etl")
    for name in ("", " ", "a\nb", "x" * 101):
        with pytest.raises(ConfigurationError, match="printable"):
            create_token(path, parse_scopes("emit"), name)
    with pytest.raises(ConfigurationError, match="emit scope"):
        create_token(path, parse_scopes("read"), "reader", parse_namespaces("a"))
    assert [entry.name for entry in load_tokens(path)] == ["etl"]


@pytest.mark.parametrize("text", ["", " , ", ["a\tb"]])
def test_bad_namespace_lists_are_refused(text: str | list[str]) -> None:
    with pytest.raises(ConfigurationError, match="namespace"):
        parse_namespaces(text)


@pytest.mark.parametrize("namespaces", [[], "a", [1], None])
def test_a_tokens_file_namespaces_must_be_a_non_empty_list_of_names(
    tmp_path: Path, namespaces: object
) -> None:
    path = tmp_path / "tokens"
    record = {"name": "a", "sha256": "00" * 32, "scopes": ["emit"], "namespaces": namespaces}
    path.write_text(json.dumps(record) + "\n")
    if namespaces is None:  # written as null: the same as no list, any namespace
        assert load_tokens(path)[0].namespaces is None
        return
    with pytest.raises(ConfigurationError, match="tokens:1 is not a token entry"):
        load_tokens(path)
