"""``provledger demo``: an ML platform's provenance traffic, told through the SDK as users would.

The story and its artifacts are in :mod:`provledger.demo.story`; this module plays it:
every step is a run opened with ``emitter.run(...)``, so the events are exactly what
instrumented code sends. After the training story, inference runs for ``duration_s`` at
``inference_rate`` per second, then one federated-learning round closes the demo.
"""

from __future__ import annotations

import os
import random
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

from provledger.demo import story
from provledger.emit.artifacts import new_salt
from provledger.emit.emitter import SyncEmitter
from provledger.events import ArtifactRef


class TrainingDiverged(ArithmeticError):
    """The demo's unlucky training run: its loss became NaN."""


@dataclass(frozen=True)
class DemoSummary:
    """What one demo sent."""

    events: int
    inferences: int
    model: ArtifactRef


def _pipeline(emitter: SyncEmitter, say: Callable[[str], object]) -> None:
    ns = story.NAMESPACE
    with emitter.run("ingest-raw", ns) as ingest:
        ingest.produced(*story.RAW_DATASETS)
    with emitter.run("ctr-pipeline", ns, attributes={"trigger": "nightly"}) as pipeline:
        parent = pipeline.run_id
        with emitter.run("build-features", ns, parent_run_id=parent) as build:
            build.used(*story.RAW_DATASETS)
            build.produced(story.FEATURES_TRAIN, story.FEATURES_HOLDOUT)
        say(f"features built from {len(story.RAW_DATASETS)} raw datasets")
        for plan in story.TRAINING:
            _train(emitter, plan, parent, say)
        for plan in story.TRAINING:
            if plan.diverges:
                continue
            attributes = {"candidate": str(plan.index)}
            with emitter.run("evaluate-ctr", ns, parent_run_id=parent, attributes=attributes) as run:
                run.used(plan.candidate, story.FEATURES_HOLDOUT)
                run.set_attribute("auc", f"{0.70 + 0.02 * plan.index:.3f}")
                run.produced(plan.metrics)
        with emitter.run("register-model", ns, parent_run_id=parent) as register:
            register.used(story.BEST.candidate, story.BEST.metrics)
            register.produced(story.DEMO_MODEL)
        with emitter.run("deploy", ns, parent_run_id=parent, attributes={"environment": "prod"}) as deploy:
            deploy.used(story.DEMO_MODEL)
            deploy.produced(story.DEMO_DEPLOYMENT)
        pipeline.produced(story.DEMO_MODEL)
    say(f"model {story.DEMO_MODEL.name} v{story.DEMO_MODEL.version} registered and deployed")


def _train(emitter: SyncEmitter, plan: story.TrainingPlan, parent: str, say: Callable[[str], object]) -> None:
    attributes = {"learning_rate": plan.learning_rate, "epochs": str(plan.epochs)}
    try:
        with emitter.run("train-ctr", story.NAMESPACE, parent_run_id=parent, attributes=attributes) as run:
            run.used(story.FEATURES_TRAIN)
            for epoch in range(1, plan.epochs + 1):
                if plan.diverges and epoch == plan.epochs:
                    raise TrainingDiverged(f"loss is NaN at epoch {epoch}")
                loss = f"{1.0 / (epoch + plan.index):.4f}"
                run.running(outputs=[plan.checkpoint(epoch)], attributes={"epoch": str(epoch), "loss": loss})
            run.produced(plan.candidate)
        say(f"training run {plan.index} (lr {plan.learning_rate}) complete")
    except TrainingDiverged:
        say(f"training run {plan.index} (lr {plan.learning_rate}) diverged: FAIL recorded")


def _serve(emitter: SyncEmitter, duration_s: float, rate: float) -> int:
    """Log inferences at ``rate`` per second for ``duration_s``; returns how many."""
    logger = emitter.inference_logger(story.DEMO_MODEL, service=story.SERVING_JOB, namespace=story.NAMESPACE)
    rng = random.Random(os.getpid())
    salt = new_salt()  # the serving team keeps it; the ledger only ever sees commitments
    sent = 0
    start = time.monotonic()
    while (elapsed := time.monotonic() - start) < duration_s:
        due = int(elapsed * rate) + 1
        while sent < due:
            features = struct.pack("<8f", *(rng.random() for _ in range(8)))
            score = struct.pack("<f", rng.random())
            private = sent % 2 == 1  # every other request shows the salted commitment
            logger.log(f"req-{sent:08d}", input=features, output=score, salt=salt if private else None)
            sent += 1
        time.sleep(max(0.0, min(0.05, (sent / rate) - (time.monotonic() - start))))
    return sent


def _federated_round(emitter: SyncEmitter, say: Callable[[str], object]) -> None:
    ns = story.NAMESPACE
    with emitter.run("fl-round", ns, attributes={"round": "1"}) as round_run:
        parent = round_run.run_id
        for client, (data, update) in enumerate(zip(story.FL_LOCAL_DATA, story.FL_UPDATES, strict=True)):
            attributes = {"client": str(client)}
            with emitter.run("fl-client-train", ns, parent_run_id=parent, attributes=attributes) as run:
                run.used(story.FL_GLOBAL, data)
                run.produced(update)
        with emitter.run("fl-aggregate", ns, parent_run_id=parent) as aggregate:
            aggregate.used(story.FL_GLOBAL, *story.FL_UPDATES)
            aggregate.set_attribute("algorithm", "fedavg")
            aggregate.produced(story.FL_GLOBAL_NEXT)
    say(f"federated round: {story.FL_CLIENTS} client updates aggregated into global model v2")


def run_demo(
    emitter: SyncEmitter, *, duration_s: float, inference_rate: float, say: Callable[[str], object] = print
) -> DemoSummary:
    """Play the whole story through ``emitter`` and flush; returns what was sent."""
    if duration_s < 0 or inference_rate <= 0:
        raise ValueError("duration must not be negative and the inference rate must be positive")
    before = emitter.metrics.sent
    _pipeline(emitter, say)
    inferences = _serve(emitter, duration_s, inference_rate)
    say(f"{inferences} inferences logged over {duration_s:g} s")
    _federated_round(emitter, say)
    emitter.flush()
    return DemoSummary(emitter.metrics.sent - before, inferences, story.DEMO_MODEL)
