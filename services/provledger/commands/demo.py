"""``provledger demo``: play the demo story (:mod:`provledger.demo`) into Kafka, say what was sent."""

from __future__ import annotations

from rich.console import Console

from provledger.config import KafkaSettings, load
from provledger.demo.workload import run_demo
from provledger.emit.emitter import SyncEmitter


def demo_command(duration_s: float, inference_rate: float) -> int:
    """Simulate an ML platform emitting provenance; returns the exit code."""
    settings = load(KafkaSettings)
    settings.require_kafka_bootstrap()
    console = Console(stderr=True)
    with SyncEmitter(settings) as emitter:
        story = run_demo(emitter, duration_s=duration_s, inference_rate=inference_rate, say=console.print)
    console.print(
        f"demo: {story.events} events ({story.inferences} inferences) sent to {emitter.topic}; "
        f"model {story.model.name} {story.model.digest}",
        highlight=False,
    )
    return 0
