"""The demo platform: an ML platform's provenance told through the SDK, as a user's code would.

Not part of the SDK: :mod:`provledger.emit` is what ML code imports; this package is one client
of it. :mod:`provledger.demo.story` holds the artifacts and the lineage they form as data (so
tests can assert the graph the demo writes), :mod:`provledger.demo.workload` plays the story
through an emitter. ``provledger demo`` and ``provledger up --demo`` run it::

    from provledger.config import KafkaSettings, load
    from provledger.demo.workload import run_demo
    from provledger.emit import SyncEmitter

    with SyncEmitter(load(KafkaSettings)) as emitter:
        summary = run_demo(emitter, duration_s=5, inference_rate=20)
"""
