"""The emitter SDK: put provenance into provledger from ML code in a few lines.

A training script (blocking code)::

    from provledger.config import KafkaSettings, load
    from provledger.emit import SyncEmitter, artifact

    with SyncEmitter(load(KafkaSettings)) as emitter:
        with emitter.run(job="train-resnet", namespace="vision") as run:
            run.used(artifact("data/imagenet-subset", kind="dataset"))
            ...  # train
            run.produced(artifact("out/resnet50.pt", kind="model"))

An asyncio service uses :class:`Emitter` the same way with ``async with`` and ``await``.
See the README section "Instrumenting ML code".
"""

from provledger.emit.artifacts import (
    artifact,
    bytes_digest,
    commitment,
    content_digest,
    file_digest,
    new_salt,
    tree_digest,
)
from provledger.emit.emitter import SDK_PRODUCER, Emitter, SyncEmitter
from provledger.emit.inference import InferenceLogger, SyncInferenceLogger
from provledger.emit.options import EmitterOptions
from provledger.emit.runs import AsyncRunRecorder, SyncRunRecorder
from provledger.emit.sender import EmitterMetrics

__all__ = [
    "SDK_PRODUCER",
    "AsyncRunRecorder",
    "Emitter",
    "EmitterMetrics",
    "EmitterOptions",
    "InferenceLogger",
    "SyncEmitter",
    "SyncInferenceLogger",
    "SyncRunRecorder",
    "artifact",
    "bytes_digest",
    "commitment",
    "content_digest",
    "file_digest",
    "new_salt",
    "tree_digest",
]
