"""The deploy files agree with each other and pass their linters: the Dockerfile, compose.yaml,
deploy/kubernetes.yaml, .dockerignore and the lock files. (tests/test_container.py builds and
runs the image itself.)"""

import re
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text()
MANIFESTS = list(yaml.safe_load_all((ROOT / "deploy" / "kubernetes.yaml").read_text()))
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())


def _dockerfile(instruction):
    """The arguments of the Dockerfile's last `instruction`, continuation lines joined."""
    joined = DOCKERFILE.replace("\\\n", " ")
    return re.findall(rf"^{instruction} +(.+)$", joined, flags=re.MULTILINE)[-1]


def _manifest(kind):
    return next(manifest for manifest in MANIFESTS if manifest["kind"] == kind)


def _container():
    return _manifest("Deployment")["spec"]["template"]["spec"]["containers"][0]


def test_dockerfile_passes_hadolint():
    hadolint = Path(sys.executable).parent / "hadolint"
    reply = subprocess.run([hadolint, "Dockerfile"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert reply.returncode == 0, reply.stdout + reply.stderr


def test_dockerfile_builds_on_a_base_given_as_an_argument():
    assert DOCKERFILE.count("ARG BASE_IMAGE=python:3.11-slim") == 1
    assert re.findall(r"^FROM (\S+)", DOCKERFILE, flags=re.MULTILINE) == ["${BASE_IMAGE}"] * 2


def test_dockerfile_installs_the_lock_before_copying_the_code():
    # Then a change to the code rebuilds only the layers after it.
    lock, first_code = DOCKERFILE.index("-r /tmp/requirements.lock"), DOCKERFILE.index("COPY attention_core/")
    assert lock < first_code


@pytest.mark.parametrize("manifest", MANIFESTS, ids=lambda manifest: manifest["kind"])
def test_kubernetes_manifest_is_valid_against_the_schema(manifest):
    kubernetes_validate.validate(manifest, kubernetes_validate.utils.latest_version(), strict=True)


def test_kubernetes_manifest_agrees_with_the_dockerfile():
    container, pod = _container(), _manifest("Deployment")["spec"]["template"]["spec"]
    assert [port["containerPort"] for port in container["ports"]] == [int(_dockerfile("EXPOSE"))]
    health_path = re.search(r"http://127\.0\.0\.1:8501(/\S+?)'", _dockerfile("HEALTHCHECK")).group(1)
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] == health_path
    user, group = _dockerfile("USER").split(":")
    assert (pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]) == (int(user), int(group))
    assert pod["securityContext"]["runAsNonRoot"] is True


def test_kubernetes_scales_out_with_session_affinity():
    assert _manifest("Deployment")["spec"]["replicas"] >= 2
    assert _manifest("Service")["spec"]["sessionAffinity"] == "ClientIP"
    assert set(_container()["resources"]) == {"requests", "limits"}


def test_compose_publishes_the_app_on_localhost_by_default():
    service = COMPOSE["services"]["app"]
    assert service["build"] == "."
    # Each ${VARIABLE:-default} as compose reads it with the variable unset.
    published = re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", service["ports"][0])
    assert published == f"127.0.0.1:8501:{_dockerfile('EXPOSE')}"


def test_dockerignore_lets_in_only_what_the_dockerfile_copies():
    patterns = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and line[0] != "#"]
    assert patterns[0] == "*" and "**/__pycache__" in patterns
    let_in = {pattern[1:].rstrip("/") for pattern in patterns if pattern.startswith("!")}
    copied = set()
    for sources in re.findall(r"^COPY (?!--from)(.+) \S+$", DOCKERFILE, flags=re.MULTILINE):
        copied |= {source.rstrip("/") for source in sources.split()}
    assert copied == let_in


@pytest.mark.parametrize("name", ["requirements", "requirements-dev"])
def test_lock_pins_every_requirement_at_the_same_version(name):
    def pins(path):
        lines = (ROOT / path).read_text().splitlines()
        return {re.sub(r"[-_.]+", "-", line.split("==")[0]).lower(): line.split("==")[1].split()[0]
                for line in lines if "==" in line and not line.startswith("#")}

    lock = pins(f"{name}.lock") | (pins("requirements.lock") if name != "requirements" else {})
    wanted = pins(f"{name}.txt")
    assert {package: lock.get(package) for package in wanted} == wanted
