"""The native stack's processes: spawn, run, wait for, stop and measure process groups.

:class:`ProcessStack` holds the state every part of :class:`~matinale.dev.stack.NativeStack`
shares (folders, ports, secrets, settings) and the processes it started, each in its own
process group so that stopping it also stops its children.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, TypedDict

from matinale.errors import MatinaleError
from matinale.settings import Settings, load_settings

if TYPE_CHECKING:
    from matinale.dev.seaweed import S3Credentials, SeaweedS3
    from matinale.dev.stack.clocks import SoonClocks


class _ChildOptions(TypedDict):
    """What every child process of the stack is started with (see ``ProcessStack._logged``)."""

    env: dict[str, str] | None
    stdout: BinaryIO
    stderr: int
    stdin: int
    user: str | None
    cwd: Path


log = logging.getLogger(__name__)


class StackError(MatinaleError, RuntimeError):
    """The native stack could not start, or the night did not succeed on it."""


@dataclass
class _Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    # SIGINT is PostgreSQL's "fast shutdown"; the others stop cleanly on SIGTERM.
    stop_signal: int = signal.SIGTERM
    grace: float = 20.0

    @property
    def pid(self) -> int:
        return self.popen.pid


def _free_port() -> int:
    """A free loopback port (the OS picks it; the service binds it right after)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return f"({path} not readable)"
    return "\n".join(text.splitlines()[-lines:])


def _wait_until(
    check: Callable[[], bool], *, what: str, timeout: float, watch: list[_Process]
) -> None:
    """Poll ``check`` until true; fail early, with its log, if a watched process died."""
    deadline = time.monotonic() + timeout
    last_error = "not ready"
    while True:
        for proc in watch:
            if proc.popen.poll() is not None:
                raise StackError(
                    f"{proc.name} exited with code {proc.popen.returncode} while waiting for {what}; "
                    f"last lines of {proc.log}:\n{_tail(proc.log)}"
                )
        try:
            if check():
                return
        except Exception as exc:  # noqa: BLE001 - a service that is still starting refuses or resets
            last_error = f"{type(exc).__name__}: {exc}"[:300]
        if time.monotonic() > deadline:
            details = "\n".join(f"--- {p.name} ({p.log}):\n{_tail(p.log, 15)}" for p in watch)
            raise StackError(
                f"timed out after {timeout:.0f} s waiting for {what} (last: {last_error})\n{details}"
            )
        time.sleep(0.5)


class ProcessStack:
    """The stack's folders, ports, secrets and settings, and the process groups it started."""

    def __init__(
        self,
        home: Path,
        *,
        root: Path | None = None,
        approval: bool = True,
        worker_concurrency: int = 2,
        keep: bool = False,
        soon: SoonClocks | None = None,
        alert_webhook: str | None = None,
    ) -> None:
        self.home = Path(home).resolve()
        self._own_root = root is None
        self.root = Path(root) if root else Path(tempfile.mkdtemp(prefix="matinale-stack-"))
        self.approval = approval
        self.worker_concurrency = worker_concurrency
        self.keep = keep
        self.processes: list[_Process] = []
        self.started_pids: list[int] = []
        self._secret = {
            "postgres": secrets.token_urlsafe(16),
            "redis": secrets.token_urlsafe(16),
            "admin": secrets.token_urlsafe(16),
        }
        self.ports: dict[str, int] = {}
        self._pg_dir: Path | None = None
        self._s3: SeaweedS3 | None = None
        self.links_keys: S3Credentials | None = None  # the link service's S3 identity
        self.timings: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self._env: dict[str, str] | None = None
        self._token: str | None = None
        # Clocks minutes ahead (a copy of campaign.yaml written as Airflow starts), and the
        # alert webhook (connection ``matinale_alerts``): for the live alert test.
        self.soon = soon
        self.alert_webhook = alert_webhook
        self.campaign_file: Path | None = None
        (self.root / "logs").mkdir(parents=True, exist_ok=True)
        self.settings: Settings = replace(
            load_settings(self.home / "campaign.yaml"),
            var_dir=self.root / "var",
            inbox=self.root / "inbox",
            work_store="s3",
            approval=approval,
        )

    @contextlib.contextmanager
    def _timed(self, phase: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.timings[phase] = round(time.monotonic() - started, 1)

    def log_files(self) -> list[Path]:
        """Every log the stack's services and tasks wrote."""
        return sorted(p for p in self.root.rglob("*.log") if p.is_file())

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time (user + system) each started process group has used so far, from /proc."""
        groups = {proc.pid: proc.name for proc in self.processes}
        if self._s3 is not None and self._s3.pid:
            groups[self._s3.pid] = "s3"
        ticks = os.sysconf("SC_CLK_TCK")
        used = dict.fromkeys(groups.values(), 0.0)
        for stat_file in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat_file.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            # After the command name: state ppid pgrp ... utime(12) stime(13) cutime(14) cstime(15).
            group = int(fields[2])
            if group in groups:
                used[groups[group]] += sum(int(v) for v in fields[11:15]) / ticks
        return {name: round(value, 1) for name, value in used.items()}

    @staticmethod
    def _stop_group(procs: list[_Process]) -> None:
        """Signal each process group, wait up to its grace period, then SIGKILL what is left."""
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, proc.stop_signal)
        deadline = time.monotonic() + max((p.grace for p in procs), default=0)
        for proc in procs:
            try:
                proc.popen.wait(timeout=max(0.1, min(proc.grace, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                log.info(
                    "%s (pid %d) still running after signal %d; killing its group",
                    proc.name,
                    proc.pid,
                    proc.stop_signal,
                )
            # Children (task runners, log servers, uvicorn workers) may outlive their leader.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(timeout=5)

    def _spawn(
        self,
        name: str,
        argv: list[str],
        *,
        env: dict[str, str],
        user: str | None = None,
        stop_signal: int = signal.SIGTERM,
        grace: float = 20.0,
        cwd: Path | None = None,
    ) -> _Process:
        path = self.root / "logs" / f"{name}.log"
        with path.open("ab") as out:
            popen = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                argv, start_new_session=True, **self._logged(out, env, user, cwd)
            )
        proc = _Process(name, popen, path, stop_signal, grace)
        self.processes.append(proc)
        self.started_pids.append(popen.pid)
        return proc

    def _logged(
        self, out: BinaryIO, env: dict[str, str] | None, user: str | None, cwd: Path | None
    ) -> _ChildOptions:
        """A child's settings: output to its log, no input, in the stack's folder by default."""
        return {
            "env": env,
            "stdout": out,
            "stderr": subprocess.STDOUT,
            "stdin": subprocess.DEVNULL,
            "user": user,
            "cwd": cwd or self.root,
        }

    def _run(
        self,
        name: str,
        argv: list[str],
        *,
        env: dict[str, str] | None = None,
        user: str | None = None,
        timeout: float = 180,
        cwd: Path | None = None,
    ) -> None:
        path = self.root / "logs" / f"{name}.log"
        with path.open("ab") as out:
            out.write(f"$ {' '.join(argv[:4])} …\n".encode())
            out.flush()
            result = subprocess.run(  # noqa: S603 - fixed argv, no shell
                argv, timeout=timeout, check=False, **self._logged(out, env, user, cwd)
            )
        if result.returncode != 0:
            raise StackError(
                f"{name} failed (exit {result.returncode}); last lines of {path}:\n{_tail(path)}"
            )

    def alive(self) -> list[int]:
        """Started process ids that still run (empty after :meth:`stop`)."""
        running = []
        for pid in self.started_pids:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                continue
            running.append(pid)
        return running
