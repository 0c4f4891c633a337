"""What becomes of a night: may it publish, and what the status record says it became.

``decide`` is the publication decision the ``gate`` task takes and ``publish`` takes again
(a partial run is a preview, never published; otherwise ``schedule.publication_decision``).
``outcome`` turns the tasks' states, that decision and the staff's answer into the night's
state and reason for the status record; ``task_states`` folds the states of a run's task
instances (mapped ones included) into one per task, in night order (``night.TASKS``).
Plain functions over plain data: nothing here imports Airflow, so all of it is tested
without it (the glue passes the run's context in).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import UTC, date, datetime
from typing import Any

from matinale.night import PUBLISH, TASKS
from matinale.schedule import Decision, publication_decision
from matinale.settings import Settings, cached_settings

__all__ = [
    "Params",
    "counts",
    "decide",
    "only_segments",
    "outcome",
    "task_states",
    "total",
]

#: The run's Params (``edition_date``, ``segments``, ``skip_visuals``, ``dry_run``) as a mapping.
Params = Mapping[str, Any] | None

# Worst first: the state a task with several instances (a mapped task) is recorded with.
_ORDER = ("failed", "upstream_failed", "skipped", "success")


def only_segments(params: Params) -> list[str]:
    """The Param ``segments``: the segment ids a partial run is limited to (empty = all)."""
    return [s for s in ((params or {}).get("segments") or []) if s]


def decide(ctx: Mapping[str, Any], params: Params, now: datetime, settings: Settings) -> Decision:
    """May this run publish now? A partial run never does; otherwise the calendar and the law say."""
    edition = date.fromisoformat(ctx["edition"])
    only = only_segments(params)
    if only and not (params or {}).get("dry_run"):
        return Decision(
            False,
            "partial",
            f"Run partiel ({len(only)} segment(s) : {', '.join(only[:5])}) : aperçu seulement, jamais publié, "
            "pour ne pas retirer les autres segments de l'édition. Pour republier, relancez sans le paramètre "
            "segments, ou effacez (Clear) le lot en échec dans le run de la nuit.",
        )
    return publication_decision(
        edition,
        now,
        settings,
        explicit=bool((params or {}).get("edition_date")),
        dry_run=bool((params or {}).get("dry_run")),
    )


def outcome(
    states: Mapping[str, str],
    decision: Mapping[str, Any] | None,
    answer: Mapping[str, Any] | None,
    ctx: Mapping[str, Any] | None,
    params: Params,
    *,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> tuple[str, str, str | None]:
    """(state, reason, detail) of the night for the status record."""
    failed = sorted(t for t, s in states.items() if s == "failed")
    if states.get(PUBLISH) == "success":
        return "published", "Publiée", None
    if failed:
        return (
            "failed",
            f"Échec : {', '.join(failed)} (voir le journal de la tâche dans Airflow) ; rien n'est publié",
            "failed",
        )
    if decision and not decision.get("publish"):
        return "skipped", str(decision["reason"]), str(decision.get("status"))
    if answer and answer.get("chosen") and answer["chosen"][0] != "Approve":
        if answer.get("timed_out") or not answer.get("by"):
            return (
                "rejected",
                "Pas d'approbation avant la clôture : l'édition n'est pas publiée (réponse par défaut)",
                "timeout",
            )
        return "rejected", f"Publication refusée par {answer['by']} ; rien n'est publié", "rejected"
    if states.get(PUBLISH) == "skipped" and ctx:
        # Approved, then the law said no at publish time (an approval that crossed into a silence).
        late = decide(ctx, params, now or datetime.now(UTC), settings or cached_settings())
        if not late.publish:
            return "skipped", late.reason, late.status
    return "running", "En cours", None


def task_states(raw: Mapping[str, str], task_ids: Collection[str]) -> dict[str, str]:
    """task_id → worst state among its instances (mapped ones included), in night order.

    ``raw`` maps task instance keys to states (a mapped instance's key ends in ``_<index>``);
    ``task_ids`` are the DAG's. Tasks outside ``night.TASKS`` come last, as they came.
    """
    states: dict[str, str] = {}
    for key, state in raw.items():
        task_id = key if key in task_ids else key.rsplit("_", 1)[0]
        known = states.get(task_id)
        rank = _ORDER.index(state) if state in _ORDER else -1
        if known is None or (rank != -1 and (known not in _ORDER or rank < _ORDER.index(known))):
            states[task_id] = str(state)
    ordered = {task_id: states[task_id] for task_id in TASKS if task_id in states}
    return {**ordered, **{k: v for k, v in states.items() if k not in ordered}}


def total(values: Any, key: str) -> int:
    """The sum of ``key`` over a task's summary, or its mapped instances' summaries."""
    if isinstance(values, dict):
        values = [values]
    return sum(int(v.get(key, 0)) for v in values or [] if isinstance(v, dict))


def counts(*summaries: Any) -> dict[str, int]:
    """The numbers (booleans aside) of a few stage summaries, as one map of counts."""
    found: dict[str, int] = {}
    for summary in summaries:
        if isinstance(summary, dict):
            found.update(
                {
                    k: int(v)
                    for k, v in summary.items()
                    if isinstance(v, int | float) and not isinstance(v, bool)
                }
            )
    return found
