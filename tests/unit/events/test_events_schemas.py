"""The schema registry: fingerprints, the evolution rule, resolution of old writers."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from fastavro.schema import fingerprint, to_parsing_canonical_form
from tests.helpers.event_strategies import sample_event

from provledger.events.codec import HEADER_SIZE, MAGIC, batch_header, decode_record, encode_record
from provledger.events.schemas import (
    EVENT,
    PRE_SPEC_BATCH_FINGERPRINTS,
    SCHEMA_NAMES,
    IncompatibleSchema,
    SchemaRegistry,
    crc64_avro,
    parsing_canonical_form,
    registry,
    schemas_root,
)

# Released versions are immutable: Kafka records in the wild name them by these fingerprints.
# A failure here means a released schema was edited in place; add a new v<N> instead.
RELEASED_BATCH_FINGERPRINTS = {1: "756456b5fd048e7b"}
# What releases before the spec-exact fingerprint wrote for v1; Kafka still holds such records.
PRE_SPEC_V1 = "a43b70bc6b7df264"


def test_crc64_avro_matches_the_avro_spec_vector() -> None:
    # Avro's schema-tests: the fingerprint of "null" is 7195948357588979594 (stored little-endian).
    assert crc64_avro("null") == (7195948357588979594).to_bytes(8, "little")


def test_released_schemas_are_unchanged() -> None:
    for number, released in RELEASED_BATCH_FINGERPRINTS.items():
        assert registry().version(number).batch_fingerprint.hex() == released


def test_a_named_type_is_written_out_once_then_by_name() -> None:
    # Event uses ArtifactRef for inputs and outputs; the expanded schema defines it at both.
    form = parsing_canonical_form(registry().version(1).batch)
    assert form.count('"name":"provledger.events.ArtifactRef"') == 1
    assert '"items":"provledger.events.ArtifactRef"' in form


def test_the_pre_spec_alias_is_what_the_old_code_computed() -> None:
    # The old way: fastavro's canonical form of the expanded schema, named types repeated.
    v1 = registry().version(1)
    old = fingerprint(to_parsing_canonical_form(v1.batch), "CRC-64-AVRO")
    assert old == PRE_SPEC_V1
    assert {bytes.fromhex(PRE_SPEC_V1): 1} == PRE_SPEC_BATCH_FINGERPRINTS
    assert registry().by_fingerprint(bytes.fromhex(PRE_SPEC_V1)) is v1
    assert v1.batch_fingerprint.hex() != PRE_SPEC_V1


def test_every_version_on_disk_loads_and_follows_the_rule() -> None:
    loaded = SchemaRegistry.load()
    assert [version.number for version in loaded.versions] == list(range(1, len(loaded.versions) + 1))
    assert loaded.current.number >= max(RELEASED_BATCH_FINGERPRINTS)


def _copy_schemas(tmp_path: Path) -> Path:
    root = tmp_path / "schemas"
    shutil.copytree(Path(str(schemas_root())) / "v1", root / "v1")
    return root


def _add_version(root: Path, edit: Any) -> None:
    """Write v2 as a copy of v1 with ``edit`` applied to the raw Event schema."""
    shutil.copytree(root / "v1", root / "v2")
    path = root / "v2" / f"{EVENT}.avsc"
    schema = json.loads(path.read_text())
    edit(schema)
    path.write_text(json.dumps(schema))


def _add_field(field: dict[str, Any]) -> Any:
    return lambda schema: schema["fields"].append(field)


def test_an_optional_field_with_default_is_a_compatible_change(tmp_path: Path) -> None:
    root = _copy_schemas(tmp_path)
    _add_version(root, _add_field({"name": "region", "type": ["null", "string"], "default": None}))
    evolved = SchemaRegistry.load(root)
    assert evolved.current.number == 2
    # A record written with v1 (what this code writes) is resolved to v2 by the reader.
    value = encode_record([sample_event()])
    assert value.startswith(batch_header(evolved))
    assert decode_record(value, evolved) == [sample_event()]
    # So is one written before the fingerprint followed the spec.
    pre_spec = MAGIC + bytes.fromhex(PRE_SPEC_V1) + value[HEADER_SIZE:]
    assert decode_record(pre_spec, evolved) == [sample_event()]


def _edit_field(name: str, **changes: Any) -> Any:
    def edit(schema: dict[str, Any]) -> None:
        for field in schema["fields"]:
            if field["name"] == name:
                field.update(changes)

    return edit


def _remove_field(name: str) -> Any:
    return lambda schema: schema["fields"].remove(next(f for f in schema["fields"] if f["name"] == name))


def _reorder_enum(schema: dict[str, Any]) -> None:
    schema["fields"][2]["type"]["symbols"].reverse()


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (_add_field({"name": "region", "type": "string"}), "new field has no default"),
        (_remove_field("payload_digest"), "field was removed"),
        (_edit_field("producer", type="bytes"), "type 'string' became 'bytes'"),
        (_edit_field("event_time", type="string"), "timestamp-micros.*became 'string'"),
        (_reorder_enum, "may only be appended"),
        (
            _edit_field("attributes", type={"type": "map", "values": "string"}, default={}),
            "maps",
        ),
        (_add_field({"name": "tags", "type": {"type": "map", "values": "string"}, "default": {}}), "maps"),
    ],
)
def test_an_incompatible_change_is_refused(tmp_path: Path, edit: Any, problem: str) -> None:
    root = _copy_schemas(tmp_path)
    _add_version(root, edit)
    with pytest.raises(IncompatibleSchema, match=problem):
        SchemaRegistry.load(root)


def test_a_gap_between_versions_is_refused(tmp_path: Path) -> None:
    root = _copy_schemas(tmp_path)
    shutil.copytree(root / "v1", root / "v3")
    with pytest.raises(IncompatibleSchema, match=r"v1\.\.vN"):
        SchemaRegistry.load(root)


def test_an_unparseable_schema_is_refused(tmp_path: Path) -> None:
    root = _copy_schemas(tmp_path)
    (root / "v1" / f"{SCHEMA_NAMES[0]}.avsc").write_text("{")
    with pytest.raises(IncompatibleSchema, match="cannot be loaded"):
        SchemaRegistry.load(root)


def test_canonical_schema_has_every_field_of_the_current_event_schema() -> None:
    # New envelope fields must reach the hashed bytes: this fails until CanonicalEvent follows.
    current = registry().current

    def field_names(schema: Any) -> list[str]:
        return [field["name"] for field in copy.deepcopy(schema)["fields"]]

    assert field_names(current.canonical) == field_names(current.event)
