"""The deployment stays true to the code: valid Kubernetes objects, real settings, hardened pods."""

from __future__ import annotations

import importlib
import ipaddress
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import typer.main
import yaml

from provledger import config
from provledger.anchor.tlog_witness import WitnessClientSettings
from provledger.cli import app
from provledger.errors import ConfigurationError
from provledger.store.logins import LOGINS
from provledger.witness.settings import parse_logs

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
#: The witness a federation participant deploys on its own, without the ledger.
WITNESS = DEPLOY / "witness"
#: The oldest Kubernetes minor the manifests promise to work on.
KUBERNETES_VERSION = "1.30.0"


def _documents(directory: Path = KUBERNETES) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(directory.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            found += [(f"{path.name}:{doc['kind']}/{doc['metadata']['name']}", doc)
                      for doc in yaml.safe_load_all(path.read_text()) if doc]  # fmt: skip
    return found


DOCUMENTS = _documents()
WITNESS_DOCUMENTS = _documents(WITNESS)
#: Both kustomizations' objects, for the checks every pod and container must pass.
EVERY_DOCUMENT = DOCUMENTS + WITNESS_DOCUMENTS

Documents = list[tuple[str, dict[str, Any]]]


def _pod_specs(documents: Documents = DOCUMENTS) -> list[tuple[str, dict[str, Any]]]:
    specs = []
    for name, doc in documents:
        if doc["kind"] in ("Deployment", "Job"):
            specs.append((name, doc["spec"]["template"]["spec"]))
    return specs


def _containers(documents: Documents = DOCUMENTS) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    return [(name, spec, c) for name, spec in _pod_specs(documents) for c in spec["containers"]]


def _settings_variables() -> set[str]:
    """Every PROVLEDGER_* variable some service reads: the fields of every settings class.

    Those of ``config``, of every anchor kind (``PROVLEDGER_TSA_*``, imported by the registry), of
    the anchorer's witness client (``PROVLEDGER_WITNESSES*``) and of the witness (``PROVLEDGER_WITNESS_*``).
    """
    for module in (
        "provledger.anchor.kinds",
        "provledger.anchor.tlog_witness",
        "provledger.witness.settings",
    ):
        importlib.import_module(module)
    classes, variables = [config.ProvledgerSettings], set()
    while classes:
        settings = classes.pop()
        classes += settings.__subclasses__()
        variables |= {config.ENV_PREFIX + field.upper() for field in settings.model_fields}
    return variables


@pytest.mark.parametrize("directory", [KUBERNETES, WITNESS], ids=["ledger", "witness"])
def test_kustomization_lists_every_manifest(directory: Path) -> None:
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    on_disk = {p.name for p in directory.glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(kustomization["resources"]) == sorted(on_disk)


@pytest.mark.parametrize(("name", "document"), EVERY_DOCUMENT, ids=[name for name, _ in EVERY_DOCUMENT])
def test_manifest_is_a_valid_kubernetes_object(name: str, document: dict[str, Any]) -> None:
    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_every_variable_the_manifests_set_is_read_by_a_service() -> None:
    known = _settings_variables()
    named: set[str] = set()
    for _, doc in EVERY_DOCUMENT:
        if doc["kind"] == "ConfigMap":
            named |= {key for key in doc["data"] if key.startswith(config.ENV_PREFIX)}
    for _, _, container in _containers(EVERY_DOCUMENT):
        named |= {entry["name"] for entry in container.get("env", [])}
    unknown = sorted(v for v in named if v not in known)
    assert not unknown, f"manifests set variables no service reads: {unknown}"


def test_every_container_runs_a_provledger_command() -> None:
    commands = set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    for name, _, container in _containers(EVERY_DOCUMENT):
        assert container["image"] == "provledger", name
        assert container["args"][0] in commands, f"{name}: unknown command {container['args'][0]!r}"


def test_pods_are_hardened_and_bounded() -> None:
    dockerfile_user = re.search(r"^USER (\d+):(\d+)$", (DEPLOY / "Dockerfile").read_text(), re.MULTILINE)
    assert dockerfile_user is not None
    for name, spec, container in _containers(EVERY_DOCUMENT):
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, name
        assert str(pod["runAsUser"]) == dockerfile_user[1], f"{name}: runAsUser differs from the image's USER"
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True, name
        assert security["allowPrivilegeEscalation"] is False, name
        assert security["capabilities"]["drop"] == ["ALL"], name
        assert {"cpu", "memory"} <= set(container["resources"]["requests"]), name
        assert "memory" in container["resources"]["limits"], name


def test_probes_and_services_point_at_declared_ports() -> None:
    ports: dict[str, set[str]] = {}
    for name, _spec, container in _containers(EVERY_DOCUMENT):
        declared = {port["name"] for port in container.get("ports", [])}
        for probe in ("readinessProbe", "livenessProbe"):
            if probe in container:
                assert container[probe]["httpGet"]["port"] in declared, f"{name}: {probe}"
        app_name = name.split("/")[-1]
        ports[app_name] = declared
    for name, doc in EVERY_DOCUMENT:
        if doc["kind"] == "Service":
            target = doc["spec"]["selector"]["app.kubernetes.io/name"]
            for port in doc["spec"]["ports"]:
                assert port["targetPort"] in ports[target], f"{name}: port {port['targetPort']}"


def test_secrets_are_mounted_files_never_literal_values() -> None:
    for name, spec, container in _containers(EVERY_DOCUMENT):
        for entry in container.get("env", []):
            if entry["name"] == "PROVLEDGER_DATABASE_URL":
                assert "secretKeyRef" in entry["valueFrom"], name
            if entry["name"].endswith("_FILE"):
                mounts = [m["mountPath"] for m in container["volumeMounts"]]
                assert any(entry["value"].startswith(m + "/") for m in mounts), f"{name}: {entry['name']}"
        for volume in spec.get("volumes", []):
            if "secret" in volume:
                assert volume["secret"]["defaultMode"] == 0o400, name


# --- Objects the manifests only refer to, and the anchorer -----------------------------------------

KUSTOMIZATION = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
CONFIG = next(doc for _, doc in DOCUMENTS if doc["kind"] == "ConfigMap")["data"]


def _readme_commands() -> list[str]:
    """The shell lines of deploy/README.md, each continued line joined to the one it continues."""
    return (DEPLOY / "README.md").read_text().replace("\\\n", " ").splitlines()


def _workload(name: str, documents: Documents = DOCUMENTS) -> tuple[dict[str, Any], dict[str, Any]]:
    """The Deployment called ``name`` and its (only) container."""
    deployment = next(d for _, d in documents if d["kind"] == "Deployment" and d["metadata"]["name"] == name)
    return deployment, deployment["spec"]["template"]["spec"]["containers"][0]


def _secret_file(spec: dict[str, Any], container: dict[str, Any], variable: str) -> tuple[str, str]:
    """(Secret, key) mounted where ``variable`` points: the file a *_FILE setting reads."""
    path = Path(next(e["value"] for e in container["env"] if e["name"] == variable))
    mount = next(m for m in container["volumeMounts"] if Path(m["mountPath"]) == path.parent)
    volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
    item = next(i for i in volume["secret"]["items"] if i["path"] == path.name)
    return volume["secret"]["secretName"], item["key"]


def _references(spec: dict[str, Any]) -> set[tuple[str, str, str]]:
    """Every (kind, name, key) a pod reads from a Secret or ConfigMap ("" for the whole object)."""
    found = set()
    for container in spec["containers"]:
        found |= {("ConfigMap", s["configMapRef"]["name"], "") for s in container.get("envFrom", [])}
        for entry in container.get("env", []):
            if ref := entry.get("valueFrom", {}).get("secretKeyRef"):
                found.add(("Secret", ref["name"], ref["key"]))
    for volume in spec.get("volumes", []):
        for kind, field, named in (("Secret", "secret", "secretName"), ("ConfigMap", "configMap", "name")):
            if source := volume.get(field):
                items = source.get("items", [{"key": ""}])
                found |= {(kind, source[named], item["key"]) for item in items}
    return found


@pytest.mark.parametrize(
    ("documents", "namespace"),
    [(DOCUMENTS, "provledger"), (WITNESS_DOCUMENTS, "provledger-witness")],
    ids=["ledger", "witness"],
)
def test_every_secret_and_configmap_is_in_the_manifests_or_created_as_the_readme_says(
    documents: Documents, namespace: str
) -> None:
    """Secrets and the TSA roots are not committed: deploy/README.md creates each, with its keys."""
    defined = {(doc["kind"], doc["metadata"]["name"]): doc for _, doc in documents}
    commands = _readme_commands()
    for name, spec in _pod_specs(documents):
        for kind, object_name, key in sorted(_references(spec)):
            if (kind, object_name) in defined:
                assert not key or key in defined[kind, object_name]["data"], f"{name}: {object_name}/{key}"
                continue
            verb = "create secret generic" if kind == "Secret" else "create configmap"
            creating = [c for c in commands if f"kubectl -n {namespace} {verb} {object_name} " in c]
            assert creating, f"{name}: deploy/README.md never creates {kind} {object_name}"
            assert re.search(rf"--from-(file|literal)={re.escape(key)}(=|\s|$)", creating[0]), (
                f"{name}: deploy/README.md creates {object_name} without the key {key!r}"
            )


def test_key_names_are_the_ones_the_readme_generates_the_keys_with() -> None:
    """A signer's *_KEY_NAME is the --name its key file was made with, or verifier keys would not match."""
    commands = " ".join(_readme_commands())
    names = dict(re.findall(r"provledger keys generate --out (\S+) --name (\S+)", commands))
    checked = 0
    for name, spec, container in _containers():
        for entry in container.get("env", []):
            if entry["name"].endswith("_KEY_FILE"):
                secret, key = _secret_file(spec, container, entry["name"])
                filling = rf"create secret generic {secret} --from-file={re.escape(key)}=(\S+)"
                source = re.search(filling, commands)
                assert source is not None, f"{name}: deploy/README.md never fills {secret}"
                assert CONFIG[entry["name"].removesuffix("_FILE") + "_NAME"] == names[source[1]], name
                checked += 1
    assert checked == 2  # the sealer's and the anchorer's


def test_every_deployment_has_a_disruption_budget_and_an_own_tokenless_service_account() -> None:
    accounts = {d["metadata"]["name"]: d for _, d in DOCUMENTS if d["kind"] == "ServiceAccount"}
    budgets = [d["spec"] for _, d in DOCUMENTS if d["kind"] == "PodDisruptionBudget"]
    for name, spec in _pod_specs():
        assert accounts[spec["serviceAccountName"]]["automountServiceAccountToken"] is False, name
    for name, doc in DOCUMENTS:
        if doc["kind"] == "Deployment":
            labels = doc["spec"]["template"]["metadata"]["labels"]
            budget = [b for b in budgets if _selects(b["selector"], labels)]
            assert len(budget) == 1, name
            assert budget[0]["minAvailable"] < doc["spec"]["replicas"], name


def _pod_labels(template: dict[str, Any], kustomization: dict[str, Any] | None = None) -> dict[str, str]:
    """A pod's labels once kustomize has added the kustomization's to templates."""
    labels = dict(template["metadata"]["labels"])
    for entry in (kustomization or KUSTOMIZATION)["labels"]:
        if entry.get("includeTemplates"):
            labels |= entry["pairs"]
    return labels


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether a Kubernetes label selector (matchLabels, In/NotIn/Exists/DoesNotExist) matches."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    tests = {
        "In": lambda e: labels.get(e["key"]) in e["values"],
        "NotIn": lambda e: labels.get(e["key"]) not in e["values"],
        "Exists": lambda e: e["key"] in labels,
        "DoesNotExist": lambda e: e["key"] not in labels,
    }
    return all(tests[e["operator"]](e) for e in selector.get("matchExpressions", []))


def _rules(
    labels: dict[str, str], direction: str, documents: Documents = DOCUMENTS
) -> list[dict[str, Any]] | None:
    """The rules of every policy isolating the pod in ``direction``; None if none does (all allowed)."""
    policies = [d["spec"] for _, d in documents if d["kind"] == "NetworkPolicy"]
    isolating = [p for p in policies if direction in p["policyTypes"] and _selects(p["podSelector"], labels)]
    key = direction.lower()
    return None if not isolating else [rule for p in isolating for rule in p.get(key, [])]


def _allows(rules: list[dict[str, Any]], port: int, protocol: str, address: str | None = None) -> bool:
    """Whether any rule lets ``port``/``protocol`` through (to ``address``, for egress)."""
    for rule in rules:
        ports = rule.get("ports")
        if ports is not None and not any(
            p["port"] == port and p.get("protocol", "TCP") == protocol for p in ports
        ):
            continue
        peers = rule.get("to")
        if peers is None or (address is not None and any(_in_block(p, address) for p in peers)):
            return True
    return False


def _in_block(peer: dict[str, Any], address: str) -> bool:
    if "ipBlock" not in peer:
        return False
    ip, block = ipaddress.ip_address(address), peer["ipBlock"]
    inside = [ip in ipaddress.ip_network(cidr) for cidr in [block["cidr"], *block.get("except", [])]]
    return inside[0] and not any(inside[1:])  # an address of the other IP version is in neither


#: The namespace labels that name who may reach the ledger's pods (deploy/README.md, "Network").
SCRAPERS = {"namespaceSelector": {"matchLabels": {"provledger.io/scrape": "true"}}}
API_CLIENTS = {"namespaceSelector": {"matchLabels": {"provledger.io/api-clients": "true"}}}
LEDGER_EGRESS = {(53, "UDP"), (53, "TCP"), (5432, "TCP"), (9092, "TCP"), (9093, "TCP")}


def _peers(rule: dict[str, Any]) -> list[dict[str, Any]]:
    """An ingress rule's sources; a rule without ``from`` admits every source, so it fails here."""
    peers: list[dict[str, Any]] = rule.get("from", [{"everyone": True}])
    return peers


@pytest.mark.parametrize(
    ("workload", "sources", "reaches"),
    [
        ("provledger-api", [API_CLIENTS, SCRAPERS], LEDGER_EGRESS),
        ("provledger-sealer", [SCRAPERS], LEDGER_EGRESS),
        ("provledger-migrate", [], {(53, "UDP"), (53, "TCP"), (5432, "TCP")}),
    ],
)
def test_each_workload_is_reached_only_by_named_peers_and_reaches_only_its_servers(
    workload: str, sources: list[dict[str, Any]], reaches: set[tuple[int, str]]
) -> None:
    template = next(
        d["spec"]["template"]
        for _, d in DOCUMENTS
        if d["metadata"]["name"] == workload and "template" in d["spec"]
    )
    labels = _pod_labels(template)
    ingress, egress = _rules(labels, "Ingress"), _rules(labels, "Egress")
    assert ingress is not None, f"{workload} admits any source"
    assert egress is not None, f"{workload} reaches anywhere"
    assert all(_peers(rule) == sources for rule in ingress), ingress
    assert {(p["port"], p.get("protocol", "TCP")) for rule in egress for p in rule["ports"]} == reaches
    assert all("to" not in rule for rule in egress)  # by port: the servers' addresses vary by cluster


def test_every_declared_port_is_let_in() -> None:
    """Scrapes and API calls reach each port a container declares, whatever the policies select."""
    for name, doc in DOCUMENTS:
        if doc["kind"] == "Deployment":
            rules = _rules(_pod_labels(doc["spec"]["template"]), "Ingress")
            for container in doc["spec"]["template"]["spec"]["containers"]:
                for port in container.get("ports", []):
                    assert rules is None or _allows(rules, port["containerPort"], "TCP"), f"{name}: {port}"


def test_anchorer_is_two_replicas_of_which_the_lock_makes_one_active() -> None:
    deployment, container = _workload("provledger-anchorer")
    assert container["args"] == ["anchorer"]
    assert deployment["spec"]["replicas"] == 2
    # No surge: a rollout never runs a third contender for the lock.
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxSurge"] == 0
    account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    others = [spec["serviceAccountName"] for name, spec in _pod_specs() if "anchorer" not in name]
    assert account not in others, "the anchorer shares a service account"
    # A replica that found a fork is unready on purpose; its alarm must still be scraped.
    metrics = next(d for _, d in DOCUMENTS if d["kind"] == "Service" and "anchorer" in d["metadata"]["name"])
    assert metrics["spec"]["publishNotReadyAddresses"] is True
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_anchorer_signs_with_its_own_key_from_a_secret_file_never_the_sealers() -> None:
    sealer, sealer_container = _workload("provledger-sealer")
    anchorer, container = _workload("provledger-anchorer")
    spec = anchorer["spec"]["template"]["spec"]
    sealer_secret, _ = _secret_file(sealer["spec"]["template"]["spec"], sealer_container,
                                    "PROVLEDGER_SIGNING_KEY_FILE")  # fmt: skip
    secret, key = _secret_file(spec, container, "PROVLEDGER_ANCHORER_KEY_FILE")
    assert (secret, key) in {(n, k) for kind, n, k in _references(spec) if kind == "Secret"}
    assert sealer_secret not in {n for _, n, _ in _references(spec)}, "the anchorer can read the sealer's key"
    assert "PROVLEDGER_SIGNING_KEY_FILE" not in {e["name"] for e in container["env"]}
    assert CONFIG["PROVLEDGER_ANCHORER_KEY_NAME"] != CONFIG["PROVLEDGER_SIGNING_KEY_NAME"]
    roots = next(e["value"] for e in container["env"] if e["name"] == "PROVLEDGER_TSA_ROOTS_FILE")
    assert any(roots.startswith(m["mountPath"] + "/") for m in container["volumeMounts"])


def test_anchorer_lets_in_only_scrapes_and_reaches_only_dns_postgres_kafka_and_tsas() -> None:
    deployment, container = _workload("provledger-anchorer")
    labels = _pod_labels(deployment["spec"]["template"])
    ingress, egress = _rules(labels, "Ingress"), _rules(labels, "Egress")
    assert ingress is not None
    assert egress is not None
    metrics = {p["containerPort"] for p in container["ports"]}
    assert {p["port"] for rule in ingress for p in rule["ports"]} == metrics
    assert all(_peers(rule) == [SCRAPERS] for rule in ingress)  # from the monitoring namespace only

    kafka = {int(address.rsplit(":", 1)[1]) for address in CONFIG["PROVLEDGER_KAFKA_BOOTSTRAP"].split(",")}
    needed = {(53, "UDP"), (53, "TCP"), (5432, "TCP")} | {(port, "TCP") for port in kafka}
    for port, protocol in needed:
        assert _allows(egress, port, protocol, "10.1.2.3"), f"egress {port}/{protocol}"
    # Every TSA the ConfigMap suggests is reachable on the internet, and only there.
    suggested = re.findall(r"https?://[^\s\",]+", (KUBERNETES / "configmap.yaml").read_text())
    tsas = {urlsplit(url) for url in suggested}
    assert len(tsas) >= 3
    for url in tsas:
        port = url.port or {"http": 80, "https": 443}[url.scheme]
        assert _allows(egress, port, "TCP", "203.0.113.7"), url.geturl()
        assert _allows(egress, port, "TCP", "2001:db8::7"), url.geturl()
        for inside in ("10.0.0.1", "172.20.0.1", "192.168.1.1", "169.254.169.254", "fd00::1"):
            assert not _allows(egress, port, "TCP", inside), f"{url.geturl()} rule reaches {inside}"
    tls_listener = (9093, "TCP")
    allowed = {(p["port"], p.get("protocol", "TCP")) for rule in egress for p in rule["ports"]}
    assert allowed == needed | {tls_listener} | {(80, "TCP"), (443, "TCP")}


def _effective_env(container: dict[str, Any]) -> dict[str, str]:
    """The PROVLEDGER_* values a container starts with: its ConfigMaps' data, then its own env entries.

    Each kustomization names its ConfigMaps apart (``provledger-`` and ``provledger-witness-``).
    """
    maps = {doc["metadata"]["name"]: doc["data"] for _, doc in EVERY_DOCUMENT if doc["kind"] == "ConfigMap"}
    values: dict[str, str] = {}
    for source in container.get("envFrom", []):
        values |= maps[source["configMapRef"]["name"]]
    values |= {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
    return values


def test_api_and_anchorer_agree_on_the_anchor_interval() -> None:
    """The API adds PROVLEDGER_ANCHOR_INTERVAL_S to the newest statement's time for next_anchor_due."""
    readers = {"api": config.ApiSettings, "anchorer": config.AnchorerSettings}
    assert all(issubclass(settings, config.AnchorScheduleSettings) for settings in readers.values())
    intervals = {
        container["args"][0]: _effective_env(container).get("PROVLEDGER_ANCHOR_INTERVAL_S")
        for _, _, container in _containers()
        if container["args"][0] in readers
    }
    assert set(intervals) == set(readers)
    assert len(set(intervals.values())) == 1, intervals
    assert None not in intervals.values(), "set it once, in the shared ConfigMap, for both"
    schedule = config.load(config.AnchorScheduleSettings, anchor_interval_s=intervals["api"])
    assert schedule.anchor_interval_s > 0


# --- The witness a participant runs on its own (deploy/witness) ------------------------------------

WITNESS_KUSTOMIZATION = yaml.safe_load((WITNESS / "kustomization.yaml").read_text())


def _witness() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The witness's Deployment, pod spec and container."""
    deployment, container = _workload("provledger-witness", WITNESS_DOCUMENTS)
    return deployment, deployment["spec"]["template"]["spec"], container


def _env_value(container: dict[str, Any], variable: str) -> str:
    return str(next(e["value"] for e in container["env"] if e["name"] == variable))


def _mount_of(container: dict[str, Any], path: str) -> dict[str, Any]:
    """The volume mount ``path`` lies directly in."""
    return next(m for m in container["volumeMounts"] if Path(m["mountPath"]) == Path(path).parent)


def test_witness_stands_alone_in_its_own_namespace_reading_nothing_of_the_ledger() -> None:
    """A participant runs only the witness: no database, broker, ledger key or ledger ConfigMap."""
    assert WITNESS_KUSTOMIZATION["namespace"] != KUSTOMIZATION["namespace"]
    namespaces = [d["metadata"]["name"] for _, d in WITNESS_DOCUMENTS if d["kind"] == "Namespace"]
    assert namespaces == [WITNESS_KUSTOMIZATION["namespace"]]
    ledger_objects = {(d["kind"], d["metadata"]["name"]) for _, d in DOCUMENTS}
    _, spec, container = _witness()
    assert {(kind, name) for kind, name, _ in _references(spec)}.isdisjoint(ledger_objects)
    assert [c["args"] for _, _, c in _containers(WITNESS_DOCUMENTS)] == [["witness"]]
    assert not any("DATABASE" in name or "KAFKA" in name for name in _effective_env(container))
    assert spec["serviceAccountName"] in {
        d["metadata"]["name"] for _, d in WITNESS_DOCUMENTS
        if d["kind"] == "ServiceAccount" and d["automountServiceAccountToken"] is False
    }  # fmt: skip


def test_witness_is_one_replica_recreated_on_its_own_state_volume() -> None:
    """SQLite has one writer: never two pods on the state, which outlives the pod on a claim."""
    deployment, spec, container = _witness()
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    state = _mount_of(container, _env_value(container, "PROVLEDGER_WITNESS_STATE_FILE"))
    assert not state.get("readOnly", False)
    volume = next(v for v in spec["volumes"] if v["name"] == state["name"])
    claims = {d["metadata"]["name"]: d for _, d in WITNESS_DOCUMENTS if d["kind"] == "PersistentVolumeClaim"}
    claim = claims[volume["persistentVolumeClaim"]["claimName"]]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    # The root filesystem is read-only: the state volume and /tmp are the only writable places.
    writable = {m["mountPath"] for m in container["volumeMounts"] if not m.get("readOnly", False)}
    assert writable == {state["mountPath"], "/tmp"}


def test_witness_signs_with_its_own_key_named_as_the_readme_generates_it() -> None:
    _, spec, container = _witness()
    secret, key = _secret_file(spec, container, "PROVLEDGER_WITNESS_KEY_FILE")
    ledger_secrets = {n for _, s in _pod_specs() for kind, n, _ in _references(s) if kind == "Secret"}
    assert secret not in ledger_secrets
    commands = " ".join(_readme_commands())
    names = dict(re.findall(r"provledger keys generate --out (\S+) --name (\S+)", commands))
    source = re.search(rf"create secret generic {secret} --from-file={re.escape(key)}=(\S+)", commands)
    assert source is not None, f"deploy/README.md never fills {secret}"
    assert _effective_env(container)["PROVLEDGER_WITNESS_NAME"] == names[source[1]]


def test_witness_serves_its_port_and_probes_it() -> None:
    deployment, _, container = _witness()
    port = int(_env_value(container, "PROVLEDGER_WITNESS_PORT"))
    assert _env_value(container, "PROVLEDGER_WITNESS_HOST") == "0.0.0.0"
    assert [(p["name"], p["containerPort"]) for p in container["ports"]] == [("http", port)]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert deployment["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] == str(port)


def test_witness_lets_in_only_its_port_and_reaches_only_dns() -> None:
    """It calls no one: a compromised witness cannot reach anything but the resolver."""
    deployment, _, container = _witness()
    labels = _pod_labels(deployment["spec"]["template"], WITNESS_KUSTOMIZATION)
    ingress, egress = (
        _rules(labels, "Ingress", WITNESS_DOCUMENTS),
        _rules(labels, "Egress", WITNESS_DOCUMENTS),
    )
    assert ingress is not None
    assert egress is not None
    assert {(p["port"], p["protocol"]) for rule in ingress for p in rule["ports"]} == {
        (container["ports"][0]["containerPort"], "TCP")
    }
    assert {(p["port"], p["protocol"]) for rule in egress for p in rule["ports"]} == {
        (53, "UDP"),
        (53, "TCP"),
    }
    assert all("ports" in rule for rule in egress)
    for port in (80, 443, 5432, 9092):
        assert not _allows(egress, port, "TCP", "203.0.113.7"), port


def _witness_logs_text() -> str:
    _, spec, container = _witness()
    mount = _mount_of(container, _env_value(container, "PROVLEDGER_WITNESS_LOGS_FILE"))
    volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
    maps = {d["metadata"]["name"]: d["data"] for _, d in WITNESS_DOCUMENTS if d["kind"] == "ConfigMap"}
    item = next(i for i in volume["configMap"]["items"] if i["path"] == Path(
        _env_value(container, "PROVLEDGER_WITNESS_LOGS_FILE")).name)  # fmt: skip
    return str(maps[volume["configMap"]["name"]][item["key"]])


def test_witness_logs_file_ships_empty_and_its_example_names_the_ledgers_shards() -> None:
    """Fail closed until the participant lists the ledger; the example matches the ledger's settings."""
    text = _witness_logs_text()
    with pytest.raises(ConfigurationError, match="lists no log"):
        parse_logs(text, "logs.txt")
    example = "\n".join(line.removeprefix("# ") for line in text.splitlines() if line.startswith("# log "))
    logs = parse_logs(example, "logs.txt example")
    origin = CONFIG["PROVLEDGER_LOG_ORIGIN"]
    assert sorted(logs) == [f"{origin}/shard/{n}" for n in range(len(logs))]
    assert {key.name for keys in logs.values() for key in keys} == {CONFIG["PROVLEDGER_SIGNING_KEY_NAME"]}


def test_anchorer_is_told_no_witness_in_the_base_and_reads_the_variable() -> None:
    """PROVLEDGER_WITNESSES is empty in the base (overlays list the participants' witnesses)."""
    _, container = _workload("provledger-anchorer")
    value = _effective_env(container)["PROVLEDGER_WITNESSES"]
    assert value == ""
    assert config.load(WitnessClientSettings, witnesses=value).endpoints() == ()


# --- Database logins (issue 19) ---------------------------------------------------------------------

#: Which login each workload connects as: its own Secret, never another workload's.
DATABASE_LOGINS = {
    "provledger-migrate": "migrator",
    "provledger-sealer": "sealer",
    "provledger-anchorer": "anchorer",
    "provledger-api": "api",
}


def test_each_workload_connects_as_its_own_login_with_a_password_file() -> None:
    seen = {}
    for name, spec, container in _containers():
        env = {e["name"]: e for e in container.get("env", [])}
        if "PROVLEDGER_DATABASE_URL" not in env:
            continue
        url_secret = env["PROVLEDGER_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
        assert "PROVLEDGER_DATABASE_PASSWORD_FILE" in env, f"{name}: its password must be a mounted file"
        assert _secret_file(spec, container, "PROVLEDGER_DATABASE_PASSWORD_FILE") == (
            url_secret["name"],
            "password",
        )
        seen[name.rsplit("/", 1)[1]] = url_secret["name"]
    assert seen == {workload: f"provledger-db-{login}" for workload, login in DATABASE_LOGINS.items()}


def test_the_readme_gives_each_secret_the_login_of_its_workload() -> None:
    """The URL in each Secret names the login store.logins makes (and the README's SQL creates)."""
    commands = " ".join(_readme_commands())
    for login in DATABASE_LOGINS.values():
        role = LOGINS[login].role
        created = re.search(
            rf"create secret generic provledger-db-{login} .*?--from-literal=url=(\S+)", commands
        )
        assert created is not None, login
        url = urlsplit(created[1])
        assert (url.username, url.password) == (role, None), (
            f"{login}: a password in the URL, or another login"
        )
        assert f"CREATE ROLE {role} LOGIN" in commands, f"deploy/README.md never creates {role}"
