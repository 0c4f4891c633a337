"""docker-compose.yml: the production shape, checked without Docker.

Parsed with YAML (anchors and merge keys resolved), then every service, healthcheck and
dependency is checked, and that the Airflow services share one configuration. Debian's
docker-compose (1.29) validates the file too when it is installed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"

AIRFLOW = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
    "airflow-worker": "celery worker",
}
BACKING = {"postgres": "postgres:16", "redis": "redis:7", "s3": "chrislusf/seaweedfs"}
SECRET = re.compile(r"(PASSWORD|SECRET|FERNET|_KEY|TOKEN)(?!.*_FILE$)", re.IGNORECASE)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    assert isinstance(env, dict), "environment must be a mapping (it is merged from the anchor)"
    return {k: str(v) for k, v in env.items()}


def test_every_service_is_there(services: dict[str, Any]) -> None:
    assert set(AIRFLOW) | set(BACKING) | {"airflow-init"} <= set(services)
    for name, image in BACKING.items():
        assert services[name]["image"].startswith(image), f"{name} must run {image}"
    for name, command in AIRFLOW.items():
        assert services[name]["command"] == command, name


def test_long_running_services_have_healthchecks(services: dict[str, Any]) -> None:
    for name in [*AIRFLOW, *BACKING]:
        check = services[name].get("healthcheck") or {}
        assert check.get("test"), f"{name} has no healthcheck"
        assert check["test"][0] in {"CMD", "CMD-SHELL"}, name
        assert services[name].get("restart") == "always", f"{name} must restart"
    assert "healthcheck" not in services["airflow-init"], "airflow-init is one-shot"


def test_dependencies_wait_for_health_and_init(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for target, rule in (service.get("depends_on") or {}).items():
            assert target in services, f"{name} depends on unknown {target}"
            condition = rule["condition"]
            assert condition in {"service_healthy", "service_completed_successfully"}, (
                name,
                target,
            )
            if condition == "service_healthy":
                assert services[target].get("healthcheck"), (
                    f"{name} waits for {target}'s health, which has no check"
                )
    for name in [*AIRFLOW, "airflow-init"]:
        deps = services[name]["depends_on"]
        assert deps["postgres"]["condition"] == deps["redis"]["condition"] == "service_healthy", (
            name
        )
    for name in AIRFLOW:
        assert (
            services[name]["depends_on"]["airflow-init"]["condition"]
            == "service_completed_successfully"
        ), name
    # The buckets are made at init, and Celery workers call the API server's execution API.
    assert services["airflow-init"]["depends_on"]["s3"]["condition"] == "service_healthy"
    assert (
        services["airflow-worker"]["depends_on"]["airflow-apiserver"]["condition"]
        == "service_healthy"
    )


def test_airflow_services_share_one_configuration(
    compose: dict[str, Any], services: dict[str, Any]
) -> None:
    common = compose["x-airflow-common"]
    shared = _env(common)
    for name in [*AIRFLOW, "airflow-init"]:
        service = services[name]
        assert service["image"] == common["image"] and service["build"] == common["build"], name
        env = _env(service)
        differs = {k for k, v in shared.items() if env.get(k) != v}
        assert not differs, f"{name} overrides the common configuration: {sorted(differs)}"
        assert set(service["volumes"]) == set(common["volumes"]), name
    # The sharing is by the anchor, not by copies that drift apart.
    text = COMPOSE.read_text(encoding="utf-8")
    for name in [*AIRFLOW, "airflow-init"]:
        block = re.search(
            rf"^  {re.escape(name)}:\n(.*?)(?=^  \S|\Z)", text, re.MULTILINE | re.DOTALL
        )
        assert block and "<<: *airflow-common\n" in block.group(1), (
            f"{name} does not merge x-airflow-common"
        )
    assert shared["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert shared["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
    # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3, which is not installed.
    assert shared["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql+psycopg2://")
    assert shared["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
    assert (
        shared["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"]
        == "http://airflow-apiserver:8080/execution/"
    )
    assert shared["MATINALE_WORK_STORE"] == "s3", "Celery workers share no disk"
    assert shared["MATINALE_APPROVAL"].startswith("${MATINALE_APPROVAL:-on}")


def test_init_migrates_connects_and_makes_buckets(services: dict[str, Any]) -> None:
    init = services["airflow-init"]
    assert (
        "MATINALE_AWS_CONN_JSON" in init["environment"]
        and "AIRFLOW_ADMIN_PASSWORD" in init["environment"]
    )
    script = "\n".join(services["airflow-init"]["command"])
    steps = ["airflow db migrate", "matinale init", "chown"]
    positions = [script.index(step) for step in steps]
    assert positions == sorted(positions)


def test_named_volumes_are_declared(compose: dict[str, Any], services: dict[str, Any]) -> None:
    declared = set(compose["volumes"])
    used = set()
    for service in services.values():
        for volume in service.get("volumes") or []:
            source = volume.split(":", 1)[0]
            if not source.startswith((".", "/", "$")):
                used.add(source)
    assert used <= declared and used, (used, declared)
    assert services["postgres"]["volumes"][0].startswith("postgres-db-volume:")
    assert services["s3"]["volumes"][0].startswith("s3-data:")


def test_no_secret_in_the_compose_file(compose: dict[str, Any]) -> None:
    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if SECRET.search(str(key)) and isinstance(value, str):
                    assert value.startswith("${"), f"{where}.{key} holds a literal secret"
                walk(value, f"{where}.{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{where}[{index}]")

    walk(compose, "compose")
    for url in re.findall(r"\w+://[^\s\"']+", COMPOSE.read_text(encoding="utf-8")):
        if "@" in url:
            assert re.search(r":\$\{[A-Z_]+", url), f"{url} embeds a password"


def test_env_example_defines_every_required_variable() -> None:
    required = set(re.findall(r"\$\{([A-Z_]+):\?", COMPOSE.read_text(encoding="utf-8")))
    example = dict(
        line.split("=", 1)
        for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    )
    assert required and required <= set(example), sorted(required - set(example))
    for name, value in example.items():
        if SECRET.search(name):
            assert value.startswith("change-me"), f"{name} in .env.example must be a placeholder"


def test_dockerfile_installs_the_project_from_the_lock() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM (python:3\.11|apache/airflow:3\.3\.2-python3\.11)", text, re.MULTILINE)
    assert "uv sync --frozen" in text and "--extra stack" in text
    for folder in ("dags", "plugins", "content_templates", "segments", "campaign.yaml", "uv.lock"):
        assert re.search(rf"^COPY .*\b{re.escape(folder)}\b", text, re.MULTILINE), (
            f"{folder} is not in the image"
        )
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".env", ".venv", "var"} <= set(ignored), (
        "secrets and local state must stay out of the image"
    )


@pytest.mark.skipif(
    shutil.which("docker-compose") is None, reason="Debian's docker-compose is not installed"
)
def test_docker_compose_accepts_the_file() -> None:
    result = subprocess.run(
        ["docker-compose", "--env-file", str(ENV_EXAMPLE), "-f", str(COMPOSE), "config", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def _published(service: dict[str, Any]) -> list[str]:
    return [str(port) for port in service.get("ports") or []]


def test_only_the_ui_and_the_s3_gateway_are_published_on_loopback(
    services: dict[str, Any],
) -> None:
    published = {name: _published(service) for name, service in services.items()}
    assert {name for name, ports in published.items() if ports} == {
        "airflow-apiserver",
        "s3",
        "links",  # the link service, for the campaign's HTTPS proxy (issue 17)
    }
    # host address : host port : container port; the address defaults to 127.0.0.1.
    assert published["s3"] == ["${MATINALE_BIND:-127.0.0.1}:${S3_PUBLIC_PORT:-8333}:8333"]
    assert published["airflow-apiserver"] == [
        "${MATINALE_BIND:-127.0.0.1}:${AIRFLOW_UI_PORT:-8080}:8080"
    ]
    assert published["links"] == ["${MATINALE_BIND:-127.0.0.1}:${LINKS_PORT:-8090}:8090"]
    for name in services:
        assert not services[name].get("network_mode") == "host", f"{name} shares the host network"


def test_seaweedfs_ports_need_the_generated_certificates(services: dict[str, Any]) -> None:
    init = services["s3-security"]
    assert init["entrypoint"] == ["python", "-m", "matinale.dev.seaweed_security"]
    assert "healthcheck" not in init and "restart" not in init, "s3-security is one-shot"
    assert init["volumes"] == ["s3-security:/etc/seaweedfs/security"]
    s3 = services["s3"]
    assert s3["depends_on"]["s3-security"]["condition"] == "service_completed_successfully"
    assert "s3-security:/etc/seaweedfs/security:ro" in s3["volumes"]
    script = "\n".join(s3["command"])
    assert "weed -config_dir=/etc/seaweedfs/security server" in script
    # Weed's components reach each other by the name in their certificate.
    assert " -ip=s3 " in script and "--host=s3" in init["command"]
    # The keys of .env.example are refused before weed starts.
    assert script.index("change-me") < script.index("exec weed")


def test_compose_publishes_on_loopback_by_default() -> None:
    if shutil.which("docker-compose") is None:
        pytest.skip("Debian's docker-compose is not installed")
    result = subprocess.run(
        ["docker-compose", "--env-file", str(ENV_EXAMPLE), "-f", str(COMPOSE), "config"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)["services"]
    ports = {
        name: [str(p.get("published") or p) if isinstance(p, dict) else str(p) for p in s["ports"]]
        for name, s in resolved.items()
        if s.get("ports")
    }
    assert ports == {
        "airflow-apiserver": ["127.0.0.1:8080:8080/tcp"],
        "s3": ["127.0.0.1:8333:8333/tcp"],
        "links": ["127.0.0.1:8090:8090/tcp"],
    }, ports


def test_the_link_service_has_its_own_identity_database_and_health(
    services: dict[str, Any],
) -> None:
    """Protects issue 17's compose shape: /healthz checked, counts in its own PostgreSQL
    database, S3 through its read-only identity (never the admin's keys)."""
    links = services["links"]
    assert links["command"] == ["links", "serve", "--host", "0.0.0.0", "--port", "8090"]
    assert "/healthz" in " ".join(links["healthcheck"]["test"]) and links["restart"] == "always"
    env = _env(links)
    assert env["MATINALE_LINKS_DB_URL"].endswith("@postgres:5432/matinale_links")
    assert env["AWS_ACCESS_KEY_ID"].startswith("${S3_LINKS_ACCESS_KEY")
    assert not any("S3_SECRET_KEY:" in v and "LINKS_" not in v for v in env.values())
    assert links["depends_on"]["links-db"]["condition"] == "service_completed_successfully"
    assert "CREATE DATABASE matinale_links" in services["links-db"]["command"][0]
    s3 = services["s3"]["command"][0]
    assert '"name": "links"' in s3 and '"Read:$${MATINALE_BUNDLE_BUCKET}"' in s3
    assert "PRIVATE" not in s3.split('"name": "links"')[1]
