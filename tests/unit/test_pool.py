"""The task's one process pool: sized to its cores or an override, one process for a small
batch, forkserver workers initialised once."""

from __future__ import annotations

import os

import pytest

from matinale import pool
from matinale.pool import available_cores, pool_context, process_pool, worker_count
from matinale.yamlfile import ConfigError

_ENV = ("MATINALE_WORKERS", "MATINALE_CONTENT_WORKERS", "MATINALE_VISUALS_WORKERS")


@pytest.fixture(autouse=True)
def no_override(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)


def test_cores_are_the_tasks_not_the_machines() -> None:
    cores = available_cores()
    assert 1 <= cores <= (os.cpu_count() or 1)
    if hasattr(os, "sched_getaffinity"):
        assert cores <= len(os.sched_getaffinity(0))


def test_sized_to_the_cores_and_one_process_for_a_small_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pool, "available_cores", lambda: 4)
    assert worker_count(1000, per_worker=8) == 4
    assert worker_count(24, per_worker=8) == 3  # one process per 8 items
    assert worker_count(7, per_worker=8) == 1  # a small batch: no pool
    assert worker_count(0, per_worker=8) == 1


def test_a_requested_count_is_taken_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pool, "available_cores", lambda: 4)
    monkeypatch.setenv("MATINALE_WORKERS", "3")
    assert worker_count(1000, per_worker=8, requested=2) == 2
    assert worker_count(5, per_worker=8, requested=8) == 5, "never more processes than items"


def test_the_environment_overrides_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pool, "available_cores", lambda: 4)
    monkeypatch.setenv("MATINALE_WORKERS", "3")
    assert worker_count(1000, per_worker=8, stage="content") == 3
    assert worker_count(2, per_worker=8, stage="content") == 2
    # The stage's own variable wins over the general one (MATINALE_CONTENT_WORKERS as before).
    monkeypatch.setenv("MATINALE_CONTENT_WORKERS", "1")
    assert worker_count(1000, per_worker=8, stage="content") == 1
    assert worker_count(1000, per_worker=8, stage="visuals") == 3
    monkeypatch.setenv("MATINALE_CONTENT_WORKERS", "cores")
    assert worker_count(1000, per_worker=8, stage="content") == 4
    monkeypatch.setenv("MATINALE_WORKERS", "0")  # as MATINALE_VISUALS_WORKERS=0 was: the cores
    assert worker_count(1000, per_worker=8, stage="visuals") == 4


@pytest.mark.parametrize("value", ["two", "-1", "1.5"])
def test_a_wrong_override_names_the_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("MATINALE_VISUALS_WORKERS", value)
    with pytest.raises(ConfigError, match=f"MATINALE_VISUALS_WORKERS='{value}'"):
        worker_count(1000, per_worker=48, stage="visuals")


def test_the_stages_size_their_pools_through_the_helper(monkeypatch: pytest.MonkeyPatch) -> None:
    from matinale.content import content_workers
    from matinale.visuals import worker_count as visuals_workers

    monkeypatch.setattr(pool, "available_cores", lambda: 4)
    assert content_workers(200) == 4 and content_workers(9) == 1
    assert visuals_workers(10_000) == 4 and visuals_workers(47, 8) == 1
    monkeypatch.setenv("MATINALE_WORKERS", "2")
    assert content_workers(200) == 2 and visuals_workers(10_000) == 2


# -- the pool itself: forkserver workers, each initialised once ----------------------------------

_STATE: dict[str, int] = {}


def _init(value: int) -> None:
    _STATE["pid"] = os.getpid()
    _STATE["value"] = value
    _STATE["inits"] = _STATE.get("inits", 0) + 1


def _report(_: int) -> tuple[int, int, int]:
    return _STATE["pid"], _STATE["value"], _STATE["inits"]


def test_workers_are_initialised_once_each() -> None:
    with process_pool(2, pool_context([__name__]), initializer=_init, initargs=(42,)) as workers:
        answers = list(workers.map(_report, range(40)))
    assert {value for _, value, _ in answers} == {42}
    assert {inits for _, _, inits in answers} == {1}, "one initialisation per worker, not per item"
    pids = {pid for pid, _, _ in answers}
    assert 1 <= len(pids) <= 2 and os.getpid() not in pids


def test_the_pool_is_shut_down_on_leaving_even_on_an_error() -> None:
    with pytest.raises(RuntimeError, match="stop"):
        with process_pool(1, pool_context([__name__]), initializer=_init, initargs=(1,)) as workers:
            workers.submit(_report, 0).result()
            raise RuntimeError("stop")
    with pytest.raises(RuntimeError, match="shutdown"):
        workers.submit(_report, 0)


def test_workers_come_from_a_forkserver_where_there_is_one() -> None:
    import multiprocessing

    context = pool_context(["matinale.store"])
    if "forkserver" in multiprocessing.get_all_start_methods():
        assert context.get_start_method() == "forkserver"
    else:
        assert context.get_start_method() == "spawn"
