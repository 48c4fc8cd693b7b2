"""Tokens: pure behaviour, no server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from provledger.api.tokens import Scope, TokenStore, create_token, load_tokens, parse_scopes
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
    assert all(ops.allows(scope) for scope in Scope)
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
