"""Provenance events: the value types, their Avro schemas and codecs, and the OpenLineage mapping.

>>> import uuid
>>> from provledger.events import ArtifactRef, Event, EventType, Job, Run, decode_record, encode_record
>>> event = Event.new(
...     EventType.COMPLETE,
...     job=Job("vision", "train-resnet"),
...     run=Run(str(uuid.uuid4())),
...     producer="https://example.com/trainer",
...     outputs=[ArtifactRef("models", "resnet50", "sha256:" + "ab" * 32, "model")],
... )
>>> decode_record(encode_record([event])) == [event]
True
"""

from provledger.events.canonical import canonical_event_bytes, event_leaf_hash
from provledger.events.codec import decode_record, encode_record
from provledger.events.model import ArtifactRef, Event, EventType, Job, Run

__all__ = [
    "ArtifactRef",
    "Event",
    "EventType",
    "Job",
    "Run",
    "canonical_event_bytes",
    "decode_record",
    "encode_record",
    "event_leaf_hash",
]
