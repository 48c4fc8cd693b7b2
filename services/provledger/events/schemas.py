"""The schema registry: every version in ``schemas/``, its fingerprints, and evolution checks.

``schemas/v<N>/`` holds one complete set of Avro schemas (``provledger.events.Event``,
``provledger.events.EventBatch``, ``provledger.canonical.CanonicalEvent``). A Kafka record names
its writer schema by the CRC-64-AVRO fingerprint of that version's ``EventBatch``; the reader
always resolves it to the newest version. Versions evolve by one rule, checked when the registry
loads (so a bad edit fails every test and every service at start-up): a newer version may add
record fields that have a default and append enum symbols to an enum that has a default, and
nothing else.

The fingerprint is the one any Avro library computes from the files (fastavro's ``load_schema``
and ``to_parsing_canonical_form``, Java's ``SchemaNormalization``): ``756456b5fd048e7b`` for v1.
Releases before that fingerprinted a form that wrote the named type ``ArtifactRef`` out twice
(``a43b70bc6b7df264`` for v1); records carrying it are still in Kafka, so the registry accepts it
as an alias of v1 (:data:`PRE_SPEC_BATCH_FINGERPRINTS`) and nothing writes it any more.

SPEC (Avro 1.11 "Schema Fingerprints"): CRC-64-AVRO is the Rabin fingerprint of the schema's
Parsing Canonical Form; single-object encoding stores it as 8 little-endian bytes.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from fastavro import parse_schema
from fastavro.schema import SchemaParseException, fingerprint, to_parsing_canonical_form
from fastavro.types import Schema

from provledger.errors import ConfigurationError

EVENT = "provledger.events.Event"
EVENT_BATCH = "provledger.events.EventBatch"
CANONICAL_EVENT = "provledger.canonical.CanonicalEvent"
#: Parse order within a version: a schema may refer to the named types of those before it.
SCHEMA_NAMES = (EVENT, EVENT_BATCH, CANONICAL_EVENT)
_VERSION_DIR = re.compile(r"v([1-9][0-9]*)")


class IncompatibleSchema(ConfigurationError):
    """A schema version breaks the evolution rule, or ``schemas/`` is incomplete or unreadable."""


def schemas_root() -> Traversable:
    """Where the schemas are: ``provledger/_schemas`` in a wheel, else the repository's ``schemas/``."""
    packaged = files("provledger") / "_schemas"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "schemas"


#: Batch fingerprints written before this code followed the spec, and the version each names.
#: Computed over the expanded schema (``ArtifactRef`` defined twice); records in Kafka still carry
#: them, so they MUST keep decoding. Pinned, not recomputed, so that no change of fastavro can
#: drop them; a test recomputes each the old way. Never add to this: new versions have one name.
PRE_SPEC_BATCH_FINGERPRINTS: Mapping[bytes, int] = {bytes.fromhex("a43b70bc6b7df264"): 1}

_NAMED_TYPES = frozenset({"record", "error", "enum", "fixed"})


def _defined_once(schema: Any, defined: set[str]) -> Any:
    """``schema`` (parsed, full names) with each named type after its first definition named only.

    SPEC (Avro 1.11 "Names"): "A schema or protocol may not contain multiple definitions of a
    fullname. Further, a name must be defined before it is used ("before" in the depth-first,
    left-to-right traversal of the JSON parse tree ...)". An expanded schema repeats a definition
    wherever its name is used, so it is not one the Parsing Canonical Form is defined for.
    """
    if isinstance(schema, list):
        return [_defined_once(branch, defined) for branch in schema]
    if not isinstance(schema, dict):
        return schema
    if schema["type"] in _NAMED_TYPES:
        if schema["name"] in defined:
            return schema["name"]
        defined.add(schema["name"])
    result = dict(schema)
    if "fields" in schema:
        result["fields"] = [
            {**field, "type": _defined_once(field["type"], defined)} for field in schema["fields"]
        ]
    if "items" in schema:
        result["items"] = _defined_once(schema["items"], defined)
    if "values" in schema:
        result["values"] = _defined_once(schema["values"], defined)
    return result


def parsing_canonical_form(schema: Schema) -> str:
    """The Parsing Canonical Form of a parsed (expanded or not) schema, as every Avro library writes it.

    SPEC (Avro 1.11 "Transforming into Parsing Canonical Form"): "Assuming an input schema (in
    JSON form) that's already UTF-8 text for a *valid* Avro schema (including all quotes as
    required by JSON), the following transformations will produce its Parsing Canonical Form":
    [PRIMITIVES], [FULLNAMES], [STRIP], [ORDER], [STRINGS], [INTEGERS], [WHITESPACE]. fastavro
    applies those to the tree it is given; :func:`_defined_once` makes that tree a valid schema
    first, each named type written out once, then by name.
    """
    return to_parsing_canonical_form(_defined_once(schema, set()))


def crc64_avro(schema: Schema) -> bytes:
    """The CRC-64-AVRO fingerprint of a parsed schema, as the 8 little-endian bytes Avro stores.

    SPEC (Avro 1.11 "Schema Fingerprints"): "fingerprints of Parsing Canonical Form can be useful
    ... to tag data items with a short substitute for the writer's full schema"; the 64-bit one
    is the Rabin fingerprint ``fingerprint64`` of those bytes. fastavro returns it as the hex of
    its little-endian bytes already.
    """
    return bytes.fromhex(fingerprint(parsing_canonical_form(schema), "CRC-64-AVRO"))


@dataclass(frozen=True)
class SchemaVersion:
    """One numbered set of parsed schemas and the fingerprint that names it on Kafka."""

    number: int
    schemas: Mapping[str, Schema]

    @property
    def event(self) -> Schema:
        return self.schemas[EVENT]

    @property
    def batch(self) -> Schema:
        return self.schemas[EVENT_BATCH]

    @property
    def canonical(self) -> Schema:
        return self.schemas[CANONICAL_EVENT]

    @cached_property
    def batch_fingerprint(self) -> bytes:
        """What a record written with this version carries: the spec's fingerprint of EventBatch."""
        return crc64_avro(self.batch)


def _load_version(number: int, folder: Traversable) -> SchemaVersion:
    # Expanded, so decoding and the evolution checks see every named type a schema refers to
    # (EventBatch refers to Event, defined in another file); crc64_avro writes each one once.
    named: dict[str, Any] = {}
    parsed: dict[str, Schema] = {}
    for name in SCHEMA_NAMES:
        source = folder / f"{name}.avsc"
        try:
            parsed[name] = parse_schema(
                json.loads(source.read_text("utf-8")), named_schemas=named, expand=True
            )
        except (OSError, ValueError, KeyError, SchemaParseException) as exc:
            raise IncompatibleSchema(
                f"schema v{number} {name} cannot be loaded from {source}: {exc}"
            ) from exc
    return SchemaVersion(number, parsed)


def _compatibility_problems(old: Any, new: Any, where: str) -> Iterator[str]:
    """Why a reader of ``new`` could not resolve data written with ``old`` under our rule."""
    if isinstance(old, str) or isinstance(new, str):
        if old != new:
            yield f"{where}: type {old!r} became {new!r}"
        return
    if isinstance(old, list) or isinstance(new, list):
        if not (isinstance(old, list) and isinstance(new, list)) or len(old) != len(new):
            yield f"{where}: union {old!r} became {new!r}"
            return
        for index, (old_branch, new_branch) in enumerate(zip(old, new, strict=True)):
            yield from _compatibility_problems(old_branch, new_branch, f"{where}[{index}]")
        return
    kind = old.get("type")
    if new.get("type") != kind or old.get("logicalType") != new.get("logicalType"):
        yield f"{where}: {kind}/{old.get('logicalType')} became {new.get('type')}/{new.get('logicalType')}"
        return
    if kind in ("record", "enum", "fixed") and old.get("name") != new.get("name"):
        yield f"{where}: named type {old.get('name')} was renamed {new.get('name')}"
    if kind == "record":
        old_fields = {f["name"]: f for f in old["fields"]}
        new_fields = {f["name"]: f for f in new["fields"]}
        for name in old_fields.keys() - new_fields.keys():
            yield f"{where}.{name}: field was removed"
        for name, new_field in new_fields.items():
            if name in old_fields:
                yield from _compatibility_problems(
                    old_fields[name]["type"], new_field["type"], f"{where}.{name}"
                )
            elif "default" not in new_field:
                yield f"{where}.{name}: new field has no default"
    elif kind == "enum":
        symbols = old["symbols"]
        if new["symbols"][: len(symbols)] != symbols:
            yield f"{where}: enum symbols {symbols} may only be appended to, not {new['symbols']}"
        elif len(new["symbols"]) > len(symbols) and "default" not in new:
            yield f"{where}: new enum symbols need a default for older readers"
    elif kind == "array":
        yield from _compatibility_problems(old["items"], new["items"], f"{where}[]")
    elif kind == "fixed" and old.get("size") != new.get("size"):
        yield f"{where}: fixed size {old.get('size')} became {new.get('size')}"


def _maps(schema: Any, where: str) -> Iterator[str]:
    """Every map in ``schema``: canonical bytes must not depend on the order of a map's entries."""
    if isinstance(schema, list):
        for index, branch in enumerate(schema):
            yield from _maps(branch, f"{where}[{index}]")
    elif isinstance(schema, dict):
        if schema.get("type") == "map":
            yield f"{where}: maps are not allowed, use an array of key/value records"
        for field in schema.get("fields", ()):
            yield from _maps(field["type"], f"{where}.{field['name']}")
        if "items" in schema:
            yield from _maps(schema["items"], f"{where}[]")


def compatibility_problems(old: Schema, new: Schema) -> list[str]:
    """Every way ``new`` breaks the evolution rule against ``old`` (both expanded; empty: compatible)."""
    return list(_compatibility_problems(old, new, "$"))


class SchemaRegistry:
    """All schema versions, checked against each other, indexed by batch fingerprint."""

    def __init__(self, versions: Sequence[SchemaVersion]) -> None:
        if not versions:
            raise IncompatibleSchema("no schema versions found: schemas/v1/ must exist")
        ordered = sorted(versions, key=lambda version: version.number)
        if [version.number for version in ordered] != list(range(1, len(ordered) + 1)):
            raise IncompatibleSchema(
                f"schema versions must be v1..vN without gaps, not {[v.number for v in ordered]}"
            )
        for version in ordered:
            for name in SCHEMA_NAMES:
                maps = list(_maps(version.schemas[name], "$"))
                if maps:
                    raise IncompatibleSchema(f"{name} v{version.number}: " + "; ".join(maps))
        for older, newer in itertools.pairwise(ordered):
            for name in SCHEMA_NAMES:
                problems = compatibility_problems(older.schemas[name], newer.schemas[name])
                if problems:
                    raise IncompatibleSchema(
                        f"{name} v{newer.number} cannot read v{older.number}: "
                        + "; ".join(problems)
                        + ". Add optional fields with defaults only."
                    )
        self.versions: tuple[SchemaVersion, ...] = tuple(ordered)
        self._by_fingerprint = {version.batch_fingerprint: version for version in ordered}
        if len(self._by_fingerprint) != len(ordered):
            raise IncompatibleSchema("two schema versions have the same EventBatch fingerprint")
        for alias, number in PRE_SPEC_BATCH_FINGERPRINTS.items():
            if number <= len(ordered):
                if alias in self._by_fingerprint:
                    raise IncompatibleSchema(f"the pre-spec fingerprint {alias.hex()} of v{number} is taken")
                self._by_fingerprint[alias] = ordered[number - 1]

    @classmethod
    def load(cls, root: Traversable | None = None) -> SchemaRegistry:
        """Load and check every ``v<N>/`` folder under ``root`` (default: :func:`schemas_root`)."""
        root = root or schemas_root()
        versions = []
        for folder in root.iterdir():
            match = _VERSION_DIR.fullmatch(folder.name)
            if match and folder.is_dir():
                versions.append(_load_version(int(match.group(1)), folder))
        return cls(versions)

    @property
    def current(self) -> SchemaVersion:
        """The newest version: what readers resolve every record to."""
        return self.versions[-1]

    def version(self, number: int) -> SchemaVersion:
        """Version ``number`` (1-based)."""
        return self.versions[number - 1]

    def by_fingerprint(self, batch_fingerprint: bytes) -> SchemaVersion | None:
        """The version whose EventBatch has this fingerprint (or pre-spec alias), or None if unknown."""
        return self._by_fingerprint.get(batch_fingerprint)


@cache
def registry() -> SchemaRegistry:
    """The process-wide registry of the installed schemas, loaded and checked once."""
    return SchemaRegistry.load()
