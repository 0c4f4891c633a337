"""Run one measurement in a fresh Python process and watch its memory.

Why a process per stage: an Airflow task runs in a process of its own, and the kernel keeps
each process's high-water mark of resident memory (``VmHWM``), exact and free to read,
which a single process running every stage could not give per stage (it only ever grows).
Stages that start worker processes (the card renderer's pool) are also watched from
outside: every ``SAMPLE_SECONDS`` the parent sums the resident memory of the child and all
its descendants, and notes each descendant's CPU time (the last value seen per process:
workers under a forkserver are not the stage's children, so its own ``RUSAGE_CHILDREN``
never counts them). That sum is an upper bound (pages shared between processes count twice)
and can miss a spike shorter than the interval, so the report keeps both numbers and uses
the larger. tracemalloc was not used: it sees only Python's allocator (not Arrow's buffers)
and slows allocation-heavy code by a large factor.

The child writes its result as JSON to a file (never to stdout, which holds the stage's
own log lines) and exits; the parent reads it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["SAMPLE_SECONDS", "ChildResult", "run_child", "write_result"]

SAMPLE_SECONDS = 0.1
_MIB = 1024 * 1024
_LOG_TAIL = 30


@dataclass
class ChildResult:
    """What one child process reported, plus what the parent saw of it."""

    ok: bool
    wall_seconds: float
    tree_peak_mib: float
    payload: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    log: Path | None = None
    #: CPU seconds of the child's descendants, as sampled (may miss the last tenth of a second).
    descendants_cpu_seconds: float = 0.0

    def cpu_seconds(self) -> float:
        """The child's CPU time with all its workers: its own, plus the larger of what it
        waited for (``RUSAGE_CHILDREN``) and what was sampled of its descendants."""
        own = self.payload.get("self_cpu_seconds")
        if own is None:
            return float(self.payload.get("cpu_seconds", 0.0))
        return float(own) + max(
            float(self.payload.get("children_cpu_seconds", 0.0)), self.descendants_cpu_seconds
        )


def write_result(path: Path, payload: dict[str, Any]) -> None:
    """Write the child's result atomically (a parent never reads half a file)."""
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(payload, ensure_ascii=False, default=str), encoding="utf-8")
    partial.replace(path)


def _tree_sample(pid: int, cpu: dict[tuple[int, float], float]) -> int:
    """Resident bytes of ``pid`` and all its descendants (0 once it is gone); notes each
    descendant's CPU seconds in ``cpu`` (keyed by pid and start time: pids are reused)."""
    import psutil

    try:
        root = psutil.Process(pid)
        children = root.children(recursive=True)
    except psutil.Error:
        return 0
    total = 0
    for process in [root, *children]:
        with contextlib.suppress(psutil.Error):
            total += process.memory_info().rss
            if process is not root:
                times = process.cpu_times()
                cpu[(process.pid, process.create_time())] = times.user + times.system
    return total


class _Sampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0
        self.cpu: dict[tuple[int, float], float] = {}
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.peak = max(self.peak, _tree_sample(self.pid, self.cpu))
            self._stop_event.wait(SAMPLE_SECONDS)

    @property
    def descendants_cpu(self) -> float:
        return sum(self.cpu.values())

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)


def _tail(path: Path) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-_LOG_TAIL:])


def run_child(
    command: str,
    spec: dict[str, Any],
    *,
    env: dict[str, str],
    folder: Path,
    name: str,
    timeout: float = 3600,
) -> ChildResult:
    """Run ``python -m matinale.dev.bench <command> <spec file>`` and collect its result.

    ``folder`` receives ``<name>.spec.json``, ``<name>.result.json`` and ``<name>.log``
    (the child's stdout and stderr). A child that fails, is killed (e.g. out of memory) or
    runs past ``timeout`` gives ``ok=False`` and an ``error`` saying which.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    spec_path, result_path, log_path = (
        folder / f"{name}.{suffix}" for suffix in ("spec.json", "result.json", "log")
    )
    result_path.unlink(missing_ok=True)
    spec_path.write_text(
        json.dumps({**spec, "result": str(result_path)}, default=str), encoding="utf-8"
    )
    started = time.perf_counter()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "matinale.dev.bench", command, str(spec_path)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: a timeout kills its workers too
        )
        sampler = _Sampler(process.pid)
        sampler.start()
        timed_out = False
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise
        finally:
            sampler.stop()
    wall = time.perf_counter() - started
    peak = sampler.peak / _MIB
    workers_cpu = sampler.descendants_cpu
    payload: dict[str, Any] = {}
    if result_path.is_file():
        payload = json.loads(result_path.read_text(encoding="utf-8"))
    if timed_out:
        return ChildResult(
            False,
            wall,
            peak,
            payload,
            f"{name}: stopped after {timeout:.0f} s (timeout); log: {log_path}",
            log_path,
            workers_cpu,
        )
    if process.returncode != 0 or not payload.get("ok"):
        if payload.get("error"):
            error = str(payload["error"])
        elif process.returncode and process.returncode < 0:
            error = (
                f"{name}: killed by signal {-process.returncode} (out of memory?); log: {log_path}"
            )
        else:
            error = f"{name}: exited with code {process.returncode} without a result; end of {log_path}:\n{_tail(log_path)}"
        return ChildResult(False, wall, peak, payload, error, log_path, workers_cpu)
    return ChildResult(True, wall, peak, payload, None, log_path, workers_cpu)
