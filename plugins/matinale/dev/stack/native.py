"""The native stack as one object: start it, drive a night through Airflow's REST API, stop it."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from matinale.dev.stack.links import start_links
from matinale.dev.stack.processes import StackError, _tail, _wait_until
from matinale.dev.stack.services import AIRFLOW_COMPONENTS, LOG_SERVERS, StackServices

__all__ = ["DAG_ID", "NativeStack", "NightResult"]

DAG_ID = "matinale_nightly"
_APPROVE_WORDS = ("approve", "approuver", "publier", "valider", "oui", "yes")


@dataclass(frozen=True)
class NightResult:
    """How one triggered run ended, as Airflow's REST API reported it."""

    run_id: str
    state: str
    tasks: dict[str, str]
    approvals: list[dict[str, Any]] = field(default_factory=list)
    task_instances: list[dict[str, Any]] = field(default_factory=list, repr=False)


class NativeStack(StackServices):
    """PostgreSQL, Redis, SeaweedFS and Airflow (CeleryExecutor) as local processes.

    Use as a context manager: ``with NativeStack(home) as stack: stack.run_night(...)``.
    """

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> NativeStack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start the services in compose's dependency order and wait until each is healthy."""
        with self._timed("postgres"):
            self._start_postgres()
        with self._timed("redis"):
            self._start_redis()
        with self._timed("s3"):
            self._start_s3()
        with self._timed("airflow-init"):
            self._airflow_init()
        with self._timed("links"):
            start_links(self)  # compose's links-db and links: counts in PostgreSQL
        if self.soon is not None:
            self.use_soon_clocks()  # set from now: Airflow's processes start right after
        with self._timed("airflow-up"):
            for name, argv in AIRFLOW_COMPONENTS.items():
                self._spawn(name, [sys.executable, "-m", "airflow", *argv], env=self.env)
            for name in LOG_SERVERS:
                self._spawn(name, self.log_server_argv(name), env=self.env)
            self._wait_healthy()

    def stop(self) -> None:
        """Stop every started process (Airflow first, Postgres last) and remove the folder."""
        with self._timed("stop"):
            self._stop_all()

    def _wait_healthy(self) -> None:
        """The compose healthchecks, natively: API version, scheduler /health, job heartbeats."""
        import httpx

        airflow = [p for p in self.processes if p.name in AIRFLOW_COMPONENTS]
        _wait_until(
            lambda: httpx.get(f"{self.api_url}/api/v2/version", timeout=3).status_code == 200,
            what="the API server",
            timeout=300,
            watch=airflow,
        )
        health_url = f"http://127.0.0.1:{self.ports['scheduler_health']}/health"
        _wait_until(
            lambda: httpx.get(health_url, timeout=3).status_code == 200,
            what="the scheduler's health check",
            timeout=300,
            watch=airflow,
        )

        def all_healthy() -> bool:
            health = self.api("GET", "/api/v2/monitor/health").json()
            parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
            return all((health.get(part) or {}).get("status") == "healthy" for part in parts)

        _wait_until(
            all_healthy,
            what="scheduler, triggerer and dag-processor heartbeats",
            timeout=300,
            watch=airflow,
        )

    # ------------------------------------------------------------------ REST API
    def token(self) -> str:
        """A JWT for ``admin`` from the auth manager (POST /auth/token)."""
        import httpx

        if self._token is None:
            response = httpx.post(
                f"{self.api_url}/auth/token",
                json={"username": "admin", "password": self._secret["admin"]},
                timeout=10,
            )
            if response.status_code != 201:
                raise StackError(
                    f"POST /auth/token answered {response.status_code}: {response.text[:200]}"
                )
            self._token = response.json()["access_token"]
        return self._token

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        response = httpx.request(
            method,
            f"{self.api_url}{path}",
            headers={"Authorization": f"Bearer {self.token()}"},
            timeout=30,
            **kwargs,
        )
        if response.status_code >= 400:
            raise StackError(
                f"{method} {path} answered {response.status_code}: {response.text[:300]}"
            )
        return response

    def wait_for_dag(self, timeout: float = 300) -> dict[str, Any]:
        """Wait until the dag-processor has parsed the DAG; fail with its import error if any."""
        found: dict[str, Any] = {}

        def parsed() -> bool:
            errors = self.api("GET", "/api/v2/importErrors").json().get("import_errors", [])
            if errors:
                raise StackError(
                    f"DAG import errors: {[(e['filename'], e['stack_trace'][-500:]) for e in errors]}"
                )
            found.update(self.api("GET", f"/api/v2/dags/{DAG_ID}").json())
            return True

        deadline = time.monotonic() + timeout
        while True:
            try:
                if parsed():
                    return found
            except StackError as exc:
                if "import errors" in str(exc) or time.monotonic() > deadline:
                    raise
            time.sleep(1)

    def run_night(self, edition: date, *, timeout: float = 600) -> NightResult:
        """Unpause, trigger one run for ``edition``, approve it when asked, wait for its end."""
        with self._timed("night"):
            return self._run_night(edition, timeout)

    def _run_night(self, edition: date, timeout: float) -> NightResult:
        run_id = self.trigger(edition)
        return self.wait_for_run(run_id, approve=True, timeout=timeout)

    def trigger(self, edition: date, **params: Any) -> str:
        """Unpause the DAG and trigger one run for ``edition`` (Params in ``params``); its id."""
        self.wait_for_dag()
        self.api("PATCH", f"/api/v2/dags/{DAG_ID}", json={"is_paused": False})
        run_id = f"stack__{datetime.now(UTC):%Y%m%dT%H%M%S%f}"
        self.api(
            "POST",
            f"/api/v2/dags/{DAG_ID}/dagRuns",
            json={
                "dag_run_id": run_id,
                "logical_date": None,
                "conf": {"edition_date": edition.isoformat(), **params},
            },
        )
        return run_id

    def wait_for_run(
        self, run_id: str, *, approve: bool = True, timeout: float = 600
    ) -> NightResult:
        """Wait for the run's end, approving what it asks staff when ``approve``; fail unless it
        succeeded. Without ``approve`` nobody answers: the approval's own timeout decides."""
        # Only a DAG with a human step needs its pending requests polled.
        asks_humans = approve and bool(self.approval_tasks())
        approvals: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        state = "queued"
        while time.monotonic() < deadline:
            state = self.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}").json()["state"]
            if state in {"success", "failed"}:
                break
            if asks_humans:
                approvals.extend(self._approve_pending(run_id))
            dead = [p for p in self.processes if p.popen.poll() is not None]
            if dead:
                raise StackError(
                    f"{dead[0].name} exited during the run; last lines:\n{_tail(dead[0].log)}"
                )
            time.sleep(2)
        instances = self.task_instances(run_id)
        tasks = {
            (t["task_id"] if t["map_index"] < 0 else f"{t['task_id']}[{t['map_index']}]"): str(
                t["state"]
            )
            for t in instances
        }
        if state != "success":
            raise StackError(
                f"run {run_id} ended {state!r} (tasks: {tasks})\n{self._failed_logs(run_id, tasks)}"
            )
        return NightResult(
            run_id=run_id, state=state, tasks=tasks, approvals=approvals, task_instances=instances
        )

    def pending_approvals(self, run_id: str) -> list[dict[str, Any]]:
        """The run's human-in-the-loop requests nobody has answered yet."""
        listed = self.api(
            "GET",
            f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/hitlDetails",
            params={"response_received": "false"},
        ).json()
        return list(listed.get("hitl_details", []))

    def clear(self, run_id: str, task_ids: list[str]) -> None:
        """Clear tasks of a run and everything downstream (staff's "Clear" in the UI)."""
        self.api(
            "POST",
            f"/api/v2/dags/{DAG_ID}/clearTaskInstances",
            json={
                "dry_run": False,
                "dag_run_id": run_id,
                "task_ids": task_ids,
                "include_downstream": True,
                "only_failed": False,
                "reset_dag_runs": True,
            },
        )

    def _approve_pending(self, run_id: str) -> list[dict[str, Any]]:
        """Answer every pending human-in-the-loop request of the run as staff would: approve."""
        done = []
        for detail in self.pending_approvals(run_id):
            ti = detail["task_instance"]
            options = detail["options"]
            choice = next((o for o in options if o.strip().lower() in _APPROVE_WORDS), None)
            choice = choice or (detail.get("defaults") or [options[0]])[0]
            self.api(
                "PATCH",
                f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{ti['task_id']}/{ti['map_index']}/hitlDetails",
                json={"chosen_options": [choice], "params_input": {}},
            )
            done.append(
                {
                    "task_id": ti["task_id"],
                    "subject": detail["subject"],
                    "chosen": choice,
                    "options": options,
                }
            )
        return done

    def task_instances(self, run_id: str) -> list[dict[str, Any]]:
        """The run's task instances as the REST API shows them (state, hostname, executor…)."""
        return self.api(
            "GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances", params={"limit": 1000}
        ).json()["task_instances"]

    def approval_tasks(self) -> list[str]:
        """Ids of the DAG's human-in-the-loop tasks (approval before publish), if any."""
        tasks = self.api("GET", f"/api/v2/dags/{DAG_ID}/tasks").json()["tasks"]
        return [
            t["task_id"]
            for t in tasks
            if any(k in (t.get("operator_name") or "") for k in ("HITL", "Approval"))
        ]

    def _failed_logs(self, run_id: str, tasks: dict[str, str]) -> str:
        failed = [
            name.split("[")[0]
            for name, state in tasks.items()
            if state not in {"success", "skipped"}
        ]
        logs_dir = self.root / "airflow" / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}"
        parts = []
        for task_id in sorted(set(failed)):
            for path in sorted(logs_dir.glob(f"task_id={task_id}/**/*.log"))[-1:]:
                parts.append(f"--- {path.relative_to(self.root)}:\n{_tail(path, 25)}")
        return "\n".join(parts) or f"(no task log under {logs_dir}; see {self.root / 'logs'})"
