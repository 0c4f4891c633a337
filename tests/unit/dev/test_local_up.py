"""``make run`` and ``make up`` on one machine: what they set up, without starting anything.

``make up`` starts what ``airflow standalone`` starts, each process on its own log file, and
every listening socket on 127.0.0.1 unless ``MATINALE_UI_HOST`` says otherwise: the API
server, and the log servers the scheduler and the triggerer would otherwise open on every
interface.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from matinale.dev import local
from matinale.settings import Settings, cached_settings, load_settings

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    monkeypatch.setenv("MATINALE_HOME", str(ROOT))
    monkeypatch.setenv("MATINALE_VAR", str(tmp_path / "var"))
    monkeypatch.delenv("MATINALE_INBOX", raising=False)
    monkeypatch.delenv(local.UI_HOST_ENV, raising=False)
    cached_settings.cache_clear()
    yield load_settings()
    cached_settings.cache_clear()


def test_the_inbox_has_a_suppression_folder(settings: Settings) -> None:
    local.fill_inbox(settings, date(2026, 11, 24), rows=50, seed=1)
    assert (settings.inbox / "suppression").is_dir()
    assert (settings.inbox / "briefs" / "2026-11-24.yaml").is_file()


def test_everything_listens_on_loopback_by_default(settings: Settings) -> None:
    host = local.ui_host()
    assert host == "127.0.0.1"
    env = local.up_env(settings, host=host, ui_port=8080)
    assert (env["AIRFLOW__API__HOST"], env["AIRFLOW__API__PORT"]) == ("127.0.0.1", "8080")
    commands = local.airflow_processes(host=host, ui_port=8080)
    assert commands["api-server"][-4:] == ["--host", "127.0.0.1", "--port", "8080"]
    # The log servers the UI reads running tasks from: on the UI's host, at the ports Airflow
    # asks (its config), and the task's hostname is where they listen.
    for name, setting in (
        ("worker-log-server", "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"),
        ("trigger-log-server", "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT"),
    ):
        assert commands[name][-4:] == ["--host", "127.0.0.1", "--port", env[setting]], name
        assert "airflow.utils.serve_logs.log_server:get_app" in commands[name]
    callable_path = env["AIRFLOW__CORE__HOSTNAME_CALLABLE"]
    module, _, function = callable_path.rpartition(".")
    assert module == "matinale.dev.local" and getattr(local, function)() == "127.0.0.1"


def test_every_process_standalone_starts_is_started_without_its_own_log_server() -> None:
    """The processes ``airflow standalone`` (Airflow 3.3) starts, read from its source: each
    is here; the ones that open a log server on every interface are told not to."""
    from airflow.cli.commands import standalone_command

    source = inspect.getsource(standalone_command.StandaloneCommand.run)
    standalone = set(re.findall(r'self\.subcommands\["([\w-]+)"\]', source))
    assert standalone == {"scheduler", "dag-processor", "api-server", "triggerer"}
    commands = local.airflow_processes(host="127.0.0.1", ui_port=8080)
    assert standalone <= set(commands)
    for name in ("scheduler", "triggerer"):
        assert "--skip-serve-logs" in commands[name], name
    # The DAG processor serves no logs (its command has no such option).
    from airflow.cli.commands import dag_processor_command

    assert "serve_logs" not in inspect.getsource(dag_processor_command)


def test_the_ui_host_can_be_chosen(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(local.UI_HOST_ENV, "0.0.0.0")
    host = local.ui_host()
    env = local.up_env(settings, host=host, ui_port=9090)
    assert env["AIRFLOW__API__HOST"] == "0.0.0.0"
    # Reachable from elsewhere: the task's hostname stays the machine's own name.
    assert "AIRFLOW__CORE__HOSTNAME_CALLABLE" not in env
    commands = local.airflow_processes(host=host, ui_port=9090)
    assert commands["worker-log-server"][-3] == "0.0.0.0"


def test_up_env_is_a_sqlite_home_under_var(settings: Settings) -> None:
    env = local.up_env(settings, host="127.0.0.1", ui_port=8080)
    home = settings.var_dir / "airflow"
    assert env["AIRFLOW_HOME"] == str(home)
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"sqlite:///{home / 'airflow.db'}"
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] == str(home / "passwords.json")
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"


def test_the_banner_comes_back_with_the_new_links(
    settings: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    class Server:
        endpoint_url = "http://127.0.0.1:8333"

        def client(self) -> object:
            return object()

    monkeypatch.setattr(local, "print_latest_links", lambda client, s: ("2026-11-24", "r1"))
    logs = settings.var_dir / "logs" / "airflow"
    shown = local._banner(settings, Server(), "http://127.0.0.1:8080", "pw", logs)
    out = capsys.readouterr().out
    assert shown == ("2026-11-24", "r1")
    assert "Airflow UI: http://127.0.0.1:8080  login: admin / pw" in out
    assert f"Airflow's logs: {logs}/" in out and "S3 (SeaweedFS): http://127.0.0.1:8333" in out
