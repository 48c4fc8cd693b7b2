"""The demo platform's artifacts and the lineage they form, as data other tests can assert.

Every digest here is a pure function of the artifact's name and version, so the graph
``provledger demo`` writes is known in advance: the API's lineage tests can ask for the
upstream of :data:`DEMO_MODEL` and compare with :data:`DEMO_MODEL_UPSTREAM`. Inference inputs
and predictions are the only artifacts made up at run time.

The story (namespace ``demo``):

1. ``ingest-raw`` writes three raw datasets.
2. ``build-features`` uses them and produces the training and hold-out feature sets.
3. ``train-ctr`` runs three times with different learning rates; each writes a checkpoint per
   epoch; one diverges and FAILs; the others produce candidate models.
4. ``evaluate-ctr`` scores each candidate on the hold-out set, producing metrics.
5. ``register-model`` takes the best candidate and its metrics and produces :data:`DEMO_MODEL`.
6. ``deploy`` uses the registered model and produces :data:`DEMO_DEPLOYMENT`.
7. ``ctr-ranker-serving`` logs INFERENCE events for the registered model.
8. A federated round: each client's ``fl-client-train`` run uses the global model v1 and its
   local data and produces an update; ``fl-aggregate`` uses every update (and the old global
   model) and produces global model v2 (:data:`FL_GLOBAL_NEXT`).

Steps 2 to 6 are child runs of one ``ctr-pipeline`` run.
"""

from __future__ import annotations

from dataclasses import dataclass

from provledger.emit.artifacts import bytes_digest
from provledger.events import ArtifactRef

NAMESPACE = "demo"


def demo_artifact(name: str, kind: str, version: str | None = None) -> ArtifactRef:
    """An artifact of the demo, its digest derived from its name and version (so predictable)."""
    content = f"provledger-demo/{NAMESPACE}/{name}@{version or ''}".encode()
    return ArtifactRef(NAMESPACE, name, bytes_digest(content), kind, version)


@dataclass(frozen=True)
class TrainingPlan:
    """One training run of the story: its learning rate, epochs, and whether it diverges."""

    index: int
    learning_rate: str
    epochs: int
    diverges: bool = False

    def checkpoint(self, epoch: int) -> ArtifactRef:
        return demo_artifact(f"checkpoints/ctr-run{self.index}-epoch{epoch}", "checkpoint")

    @property
    def candidate(self) -> ArtifactRef:
        return demo_artifact(f"models/ctr-candidate-{self.index}", "model")

    @property
    def metrics(self) -> ArtifactRef:
        return demo_artifact(f"metrics/ctr-candidate-{self.index}", "metrics")


RAW_DATASETS = (
    demo_artifact("raw/clickstream-2026-11", "dataset", "2026-11"),
    demo_artifact("raw/catalog-2026-11", "dataset", "2026-11"),
    demo_artifact("raw/labels-2026-11", "dataset", "2026-11"),
)
FEATURES_TRAIN = demo_artifact("features/ctr-v3-train", "features", "3")
FEATURES_HOLDOUT = demo_artifact("features/ctr-v3-holdout", "features", "3")
TRAINING = (
    TrainingPlan(1, "0.01", 3),
    TrainingPlan(2, "0.3", 2, diverges=True),
    TrainingPlan(3, "0.003", 4),
)
#: The candidate the registry takes: the one with the best hold-out score.
BEST = TRAINING[2]
DEMO_MODEL = demo_artifact("models/ctr-ranker", "model", "1")
DEMO_DEPLOYMENT = demo_artifact("deployments/ctr-ranker-prod", "deployment", "1")

#: Every artifact upstream of DEMO_MODEL, at any depth, through the runs that used and produced them.
DEMO_MODEL_UPSTREAM = frozenset(
    {BEST.candidate, BEST.metrics, FEATURES_TRAIN, FEATURES_HOLDOUT, *RAW_DATASETS}
)

FL_CLIENTS = 4
FL_GLOBAL = demo_artifact("models/keyboard-global", "model", "1")
FL_GLOBAL_NEXT = demo_artifact("models/keyboard-global", "model", "2")
FL_LOCAL_DATA = tuple(demo_artifact(f"fl/client-{k}/local-data", "dataset") for k in range(FL_CLIENTS))
FL_UPDATES = tuple(demo_artifact(f"fl/client-{k}/update-round-1", "model-update") for k in range(FL_CLIENTS))
#: Every artifact upstream of the aggregated global model.
FL_GLOBAL_NEXT_UPSTREAM = frozenset({FL_GLOBAL, *FL_LOCAL_DATA, *FL_UPDATES})

SERVING_JOB = "ctr-ranker-serving"
