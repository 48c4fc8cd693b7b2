"""The deployment stays true to the code: valid Kubernetes objects, real settings, hardened pods."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import typer.main
import yaml

from provledger import config
from provledger.cli import app

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
#: The oldest Kubernetes minor the manifests promise to work on.
KUBERNETES_VERSION = "1.30.0"


def _documents() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(KUBERNETES.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            found += [(f"{path.name}:{doc['kind']}/{doc['metadata']['name']}", doc)
                      for doc in yaml.safe_load_all(path.read_text()) if doc]  # fmt: skip
    return found


DOCUMENTS = _documents()


def _pod_specs() -> list[tuple[str, dict[str, Any]]]:
    specs = []
    for name, doc in DOCUMENTS:
        if doc["kind"] in ("Deployment", "Job"):
            specs.append((name, doc["spec"]["template"]["spec"]))
    return specs


def _containers() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    return [(name, spec, c) for name, spec in _pod_specs() for c in spec["containers"]]


def _settings_variables() -> set[str]:
    """Every PROVLEDGER_* variable some service reads: the fields of every settings class."""
    variables = set()
    for value in vars(config).values():
        if isinstance(value, type) and issubclass(value, config.ProvledgerSettings):
            variables |= {config.ENV_PREFIX + field.upper() for field in value.model_fields}
    return variables


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    on_disk = {p.name for p in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(kustomization["resources"]) == sorted(on_disk)


@pytest.mark.parametrize(("name", "document"), DOCUMENTS, ids=[name for name, _ in DOCUMENTS])
def test_manifest_is_a_valid_kubernetes_object(name: str, document: dict[str, Any]) -> None:
    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_every_variable_the_manifests_set_is_read_by_a_service() -> None:
    known = _settings_variables()
    configmap = next(doc for _, doc in DOCUMENTS if doc["kind"] == "ConfigMap")
    named = set(configmap["data"])
    for _, _, container in _containers():
        named |= {entry["name"] for entry in container.get("env", [])}
    unknown = sorted(v for v in named if v not in known)
    assert not unknown, f"manifests set variables no service reads: {unknown}"


def test_every_container_runs_a_provledger_command() -> None:
    commands = set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    for name, _, container in _containers():
        assert container["image"] == "provledger", name
        assert container["args"][0] in commands, f"{name}: unknown command {container['args'][0]!r}"


def test_pods_are_hardened_and_bounded() -> None:
    dockerfile_user = re.search(r"^USER (\d+):(\d+)$", (DEPLOY / "Dockerfile").read_text(), re.MULTILINE)
    assert dockerfile_user is not None
    for name, spec, container in _containers():
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
    for name, _spec, container in _containers():
        declared = {port["name"] for port in container.get("ports", [])}
        for probe in ("readinessProbe", "livenessProbe"):
            if probe in container:
                assert container[probe]["httpGet"]["port"] in declared, f"{name}: {probe}"
        app_name = name.split("/")[-1]
        ports[app_name] = declared
    for name, doc in DOCUMENTS:
        if doc["kind"] == "Service":
            target = doc["spec"]["selector"]["app.kubernetes.io/name"]
            for port in doc["spec"]["ports"]:
                assert port["targetPort"] in ports[target], f"{name}: port {port['targetPort']}"


def test_secrets_are_mounted_files_never_literal_values() -> None:
    for name, spec, container in _containers():
        for entry in container.get("env", []):
            if entry["name"] == "PROVLEDGER_DATABASE_URL":
                assert "secretKeyRef" in entry["valueFrom"], name
            if entry["name"].endswith("_FILE"):
                mounts = [m["mountPath"] for m in container["volumeMounts"]]
                assert any(entry["value"].startswith(m + "/") for m in mounts), f"{name}: {entry['name']}"
        for volume in spec.get("volumes", []):
            if "secret" in volume:
                assert volume["secret"]["defaultMode"] == 0o400, name
