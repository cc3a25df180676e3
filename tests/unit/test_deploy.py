"""deploy/: the compose file, the image, the Kubernetes manifests and the dashboard hold together."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.common.settings import SERVICES, Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
AGENCIES = [s for s in SERVICES if s != "gateway"]
KNOWN_KINDS = {
    "ConfigMap",
    "Secret",
    "Deployment",
    "Service",
    "HorizontalPodAutoscaler",
    "Kustomization",
}
SETTINGS = {f"SW_{name.upper()}" for name in Settings.model_fields}


def _compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return doc


def _docker_compose_available() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    return probe.returncode == 0


@pytest.mark.skipif(not _docker_compose_available(), reason="no docker compose plugin here")
@pytest.mark.parametrize("env_file", [".env", "ha.env"])
def test_docker_compose_accepts_the_file(env_file: str) -> None:
    result = subprocess.run(
        [
            "docker",
            "compose",
            "-f",
            str(DEPLOY / "compose.yaml"),
            "--env-file",
            str(DEPLOY / env_file),
            "config",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


GATEWAY_ROLES = {
    "gateway-api": "api,dashboard",
    "gateway-saga": "saga",
    "gateway-webhooks": "webhooks",
}


def test_compose_runs_kafka_postgres_and_the_five_services_from_one_image() -> None:
    services = _compose()["services"]
    brokers = {"kafka", "kafka-1", "kafka-2", "kafka-3", "postgres"}
    assert set(AGENCIES) | set(GATEWAY_ROLES) | brokers == set(services)
    for name in [*AGENCIES, *GATEWAY_ROLES]:
        svc = services[name]
        assert svc["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
        assert svc["image"] == "singlewindow:latest"
        assert svc["command"][0] == name.split("-")[0]
        assert svc["environment"].get("SW_GATEWAY_ROLES") == GATEWAY_ROLES.get(name)
        assert svc["environment"]["SW_PARTITIONS"] == "${SW_PARTITIONS:-24}"
        assert "/readyz" in " ".join(svc["healthcheck"]["test"])
        env = svc["environment"]
        assert set(env) <= SETTINGS, set(env) - SETTINGS
        assert env["SW_DATABASE_URL"].startswith("postgresql://")
        assert env["SW_DATABASE_URL"].endswith("/sw_{service}")
        assert {"SW_PARTITIONS", "SW_REPLICATION_FACTOR", "SW_KAFKA_BOOTSTRAP"} <= set(env)
        assert svc["depends_on"]["postgres"]["condition"] == "service_healthy"
    for agency in AGENCIES:
        assert services[agency]["deploy"]["replicas"] == "${SW_AGENCY_REPLICAS:-2}"
    declared = set(_compose()["volumes"])
    for name, svc in services.items():
        named = {v.split(":", 1)[0] for v in svc.get("volumes", []) if not v.startswith(".")}
        assert named <= declared, name
    init = (DEPLOY / "postgres-init.sql").read_text()
    assert all(f"CREATE DATABASE sw_{s};" in init for s in SERVICES)
    assert "healthcheck" in services["postgres"]


def test_one_kraft_broker_by_default_and_three_replicating_brokers_in_the_ha_profile() -> None:
    services = _compose()["services"]
    single = services["kafka"]
    assert single["image"].startswith("apache/kafka:")
    assert single["profiles"] == ["single"]
    assert single["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert single["environment"]["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka:9093"
    ha = [services[f"kafka-{i}"] for i in (1, 2, 3)]
    assert [b["environment"]["KAFKA_NODE_ID"] for b in ha] == [1, 2, 3]
    for broker in ha:
        env = broker["environment"]
        assert broker["profiles"] == ["ha"] and "healthcheck" in broker
        assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"].count("@") == 3
        assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == 3
        assert env["KAFKA_MIN_INSYNC_REPLICAS"] == 2
    default_env = (DEPLOY / ".env").read_text()
    ha_env = (DEPLOY / "ha.env").read_text()
    assert "COMPOSE_PROFILES=single" in default_env
    assert "COMPOSE_PROFILES=ha" in ha_env and "SW_REPLICATION_FACTOR=3" in ha_env
    assert "SW_KAFKA_BOOTSTRAP=kafka-1:9092,kafka-2:9092,kafka-3:9092" in ha_env


def _make_target(makefile: str, target: str) -> tuple[str, list[str]]:
    """A Makefile rule's prerequisites line and its recipe lines."""
    match = re.search(rf"^{re.escape(target)}:(.*)\n((?:\t.*\n)*)", makefile, re.MULTILINE)
    assert match, target
    return match.group(1), [line.strip() for line in match.group(2).splitlines()]


def test_the_image_installs_with_the_same_step_as_make_run() -> None:
    makefile = (ROOT / "Makefile").read_text()
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    run_prereqs, _ = _make_target(makefile, "run")
    assert "$(STAMP)" in run_prereqs
    assert "STAMP := $(VENV)/.installed" in makefile and "VENV := .venv" in makefile
    _, install = _make_target(makefile, "$(STAMP)")
    assert any("pip install" in line and "$(EXTRAS)" in line for line in install)
    runs = re.findall(r"^RUN (.+)$", dockerfile, re.MULTILINE)
    assert "make .venv/.installed EXTRAS=otel" in runs
    assert "COPY Makefile pyproject.toml README.md ./" in dockerfile


def test_the_image_is_multi_stage_and_runs_as_a_non_root_user() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+)(?: AS (\w+))?", dockerfile, re.MULTILINE)
    assert len(stages) == 2 and stages[0][1] == "build"
    final = dockerfile.split("\nFROM ")[-1]
    assert "COPY --from=build /app /app" in final
    user = re.findall(r"^USER (\S+)", final, re.MULTILINE)
    assert user and user[-1] not in ("root", "0")
    assert 'ENTRYPOINT ["python", "-m", "singlewindow.serve"]' in final


def _manifests() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                out.append((path.name, doc))
    return out


def test_k8s_manifests_are_known_kinds_with_probes_and_requests() -> None:
    manifests = _manifests()
    assert {kind for _, d in manifests for kind in [d["kind"]]} <= KNOWN_KINDS
    deployments = {d["metadata"]["name"]: d for _, d in manifests if d["kind"] == "Deployment"}
    assert set(deployments) == {f"sw-{s}" for s in [*AGENCIES, *GATEWAY_ROLES]}
    names = {(d["kind"], d["metadata"]["name"]) for _, d in manifests if "metadata" in d}
    for deployment in [*AGENCIES, *GATEWAY_ROLES]:
        service = deployment.split("-")[0]
        pod = deployments[f"sw-{deployment}"]["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        (container,) = pod["containers"]
        assert container["args"][0] == service
        roles = {e["name"]: e["value"] for e in container.get("env", [])}.get("SW_GATEWAY_ROLES")
        assert roles == GATEWAY_ROLES.get(deployment)
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert {"cpu", "memory"} <= set(container["resources"]["requests"])
        for source in container["envFrom"]:
            kind, ref = next(iter(source.items()))
            assert (
                {"configMapRef": "ConfigMap", "secretRef": "Secret"}[kind],
                ref["name"],
            ) in names
        assert ("Service", f"sw-{service}") in names
        if deployment != "gateway-webhooks":  # one sender is enough; the others scale
            assert ("HorizontalPodAutoscaler", f"sw-{deployment}") in names
    for _, doc in manifests:
        if doc["kind"] == "HorizontalPodAutoscaler":
            assert doc["spec"]["scaleTargetRef"]["name"] in deployments
            assert doc["spec"]["metrics"][0]["resource"]["name"] == "cpu"
        if doc["kind"] == "ConfigMap":  # room for 24 consumers of each group
            assert int(doc["data"]["SW_PARTITIONS"]) >= 24
        if doc["kind"] in ("ConfigMap", "Secret"):
            keys = set(doc.get("data") or doc.get("stringData"))
            assert keys <= SETTINGS, keys - SETTINGS
    kustomization = next(d for _, d in manifests if d["kind"] == "Kustomization")
    listed = set(kustomization["resources"])
    assert listed == {p.name for p in (DEPLOY / "k8s").glob("*.yaml")} - {"kustomization.yaml"}
    notes = (DEPLOY / "k8s" / "README.md").read_text()
    assert "Strimzi" in notes and "KEDA" in notes


def dashboard_metric_names() -> set[str]:
    """The metric names the Grafana dashboard's queries use."""
    board = json.loads((DEPLOY / "grafana" / "singlewindow.json").read_text())
    exprs = [t["expr"] for p in board["panels"] for t in p["targets"]]
    return {name for e in exprs for name in re.findall(r"\bsw_[a-z_]+\b", e)}


def test_the_dashboard_is_valid_json_with_a_query_per_panel() -> None:
    board = json.loads((DEPLOY / "grafana" / "singlewindow.json").read_text())
    assert board["panels"] and all(p["targets"] for p in board["panels"])
    assert {p["id"] for p in board["panels"]} == set(range(1, len(board["panels"]) + 1))
    assert "sw_consumer_lag" in dashboard_metric_names()
