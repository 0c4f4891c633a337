"""What the Matinale view says about tonight: one state, its reason in French, and links.

The view's Airflow reader (``matinale.airflow.view``) takes a small ``Snapshot`` of the
metadata DB (is the DAG paused, when is the next start, the latest run, its tasks, a pending
approval, the brief, the deadline, the run's status record); ``describe`` turns it into one
``Tonight``: scheduled or paused, waiting for the brief, running, awaiting approval, late,
failed, published, or finished without publishing (the electoral silence, a dry run, a
rejection), always with why. ``next_nights_table`` lists the next nights in both clocks
(the DAG's doc_md is static; the view shows the dates).

Plain data in, plain data out: nothing here imports Airflow, so every state is tested on
constructed snapshots with a frozen clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import PurePath
from typing import Any
from urllib.parse import quote

from matinale.schedule import edition_for, next_nights, night_of, schedule_rows, two_clocks
from matinale.settings import Clocks, Settings

__all__ = [
    "LABELS",
    "STATES",
    "Link",
    "Snapshot",
    "TaskState",
    "Tonight",
    "describe",
    "next_nights_table",
]

STATES = (
    "paused",
    "scheduled",
    "waiting_brief",
    "running",
    "awaiting_approval",
    "late",
    "failed",
    "published",
    "skipped",
    "rejected",
)
LABELS = {
    "paused": "DAG en pause",
    "scheduled": "Programmée",
    "waiting_brief": "En attente du brief",
    "running": "En cours",
    "awaiting_approval": "En attente d’approbation",
    "late": "En retard",
    "failed": "Échec",
    "published": "Publiée",
    "skipped": "Terminée sans publication",
    "rejected": "Refusée",
}
# The night's tasks, in night order, as staff read them.
_STAGES = {
    "wait_for_brief": "attente du brief",
    "prepare": "préparation",
    "ingest": "lecture du fichier des soutiens",
    "privacy": "consentements et exclusions",
    "segment": "segmentation",
    "learn": "ce qui a marché les jours précédents",
    "plan": "répartition en lots",
    "content": "rédaction des posts",
    "visuals": "création des visuels",
    "contact_sheet": "planche contact",
    "bundle": "assemblage des pages",
    "checks": "contrôles avant publication",
    "gate": "décision de publication",
    "approval": "approbation",
    "publish": "publication",
    "record": "enregistrement du statut",
}
# What a failed task means, in plain French.
_FAILURES = {
    "wait_for_brief": "le brief de l’édition n’est pas arrivé avant l’heure limite de dépôt",
    "prepare": "le fichier des soutiens ou le brief n’a pas pu être préparé",
    "ingest": "le fichier des soutiens n’a pas pu être lu",
    "privacy": "le filtrage des consentements et des exclusions a échoué",
    "segment": "la segmentation a échoué",
    "plan": "la répartition des segments en lots a échoué",
    "content": "la rédaction des posts a échoué",
    "visuals": "la création des visuels a échoué",
    "contact_sheet": "la planche contact n’a pas pu être dessinée",
    "bundle": "l’assemblage des pages a échoué",
    "checks": "les contrôles avant publication ont trouvé un problème",
    "gate": "la décision de publication n’a pas pu être prise",
    "approval": "l’étape d’approbation a échoué",
    "publish": "la publication a échoué : l’édition n’est pas en ligne",
}
_ACTIVE_RUN = {"queued", "running"}
_WAITING = {None, "none", "scheduled", "queued", "running", "deferred", "up_for_reschedule"}
_BUSY = {"running", "deferred", "up_for_retry", "up_for_reschedule", "awaiting_input", "queued"}
_TEARDOWN = "record"


@dataclass(frozen=True)
class TaskState:
    """One task instance of the run (a mapped task has one per batch)."""

    task_id: str
    state: str | None
    start: datetime | None = None
    end: datetime | None = None
    try_number: int = 0
    map_index: int = -1


@dataclass(frozen=True)
class Snapshot:
    """What the view reads about the nightly DAG, at one instant."""

    dag_id: str
    paused: bool
    next_start: datetime | None = None  # Airflow's next run; None: the clocks say
    run_id: str | None = None  # the latest run (None: no run yet)
    run_state: str | None = None  # queued, running, success, failed
    run_start: datetime | None = None
    run_end: datetime | None = None
    edition: date | None = None
    tasks: tuple[TaskState, ...] = ()
    approval_pending: bool = False
    brief_path: str | None = None
    brief_present: bool = False
    deadline: datetime | None = None
    record: Mapping[str, Any] | None = None  # the run's status record, once written


@dataclass(frozen=True)
class Link:
    """A labelled link into the Airflow UI (a path from its root)."""

    label: str
    href: str


@dataclass(frozen=True)
class Tonight:
    """The night as the view shows it: state, French label and reason, links, next start."""

    state: str
    label: str
    reason: str
    edition: date | None
    run_id: str | None
    links: tuple[Link, ...]
    next_start: str  # both clocks, or "DAG en pause"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["edition"] = self.edition.isoformat() if self.edition else None
        return data


def _elapsed(since: datetime, now: datetime) -> str:
    minutes = max(0, int((now - since).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d}"


def _run_path(snap: Snapshot, ui_root: str) -> str:
    return f"{ui_root}/dags/{quote(snap.dag_id, safe='')}/runs/{quote(snap.run_id or '', safe='')}"


def _task_path(snap: Snapshot, task: TaskState, ui_root: str) -> str:
    mapped = f"/mapped/{task.map_index}" if task.map_index >= 0 else ""
    return f"{_run_path(snap, ui_root)}/tasks/{quote(task.task_id, safe='')}{mapped}"


def _ordered(tasks: tuple[TaskState, ...]) -> list[TaskState]:
    order = list(_STAGES)
    return sorted(
        tasks,
        key=lambda t: (order.index(t.task_id) if t.task_id in order else len(order), t.map_index),
    )


def _stage(task_id: str) -> str:
    return _STAGES.get(task_id, task_id)


def _next_start(snap: Snapshot, now: datetime, clocks: Clocks) -> str:
    if snap.paused:
        return "DAG en pause : aucune nuit ne démarre tant qu’il n’est pas réactivé dans Airflow"
    start = snap.next_start or next_nights(now, 1, clocks)[0].start
    return f"Prochain départ : {two_clocks(start, clocks)}"


def _scheduled(snap: Snapshot, now: datetime, clocks: Clocks, ui_root: str) -> Tonight:
    upcoming = next_nights(now, 1, clocks)[0]
    start = snap.next_start or upcoming.start
    night = night_of(edition_for(start, clocks), clocks)
    state = "paused" if snap.paused else "scheduled"
    if snap.paused:
        reason = (
            f"Le DAG {snap.dag_id} est en pause : la nuit de l’édition du {night.edition:%d/%m/%Y} "
            "ne démarrera pas. Réactivez-le dans Airflow pour qu’elle parte à l’heure."
        )
    else:
        reason = (
            f"Édition du {night.edition:%d/%m/%Y} : départ {two_clocks(start, clocks)}, "
            f"heure limite de publication {two_clocks(night.deadline, clocks)}."
        )
    links = (Link("Le DAG dans Airflow", f"{ui_root}/dags/{quote(snap.dag_id, safe='')}"),)
    return Tonight(
        state, LABELS[state], reason, night.edition, None, links, _next_start(snap, now, clocks)
    )


def _failed(snap: Snapshot, ui_root: str) -> tuple[str, tuple[Link, ...]]:
    failed = [t for t in _ordered(snap.tasks) if t.state == "failed" and t.task_id != _TEARDOWN]
    if not failed:
        reason = str((snap.record or {}).get("reason") or "Le run a échoué (voir Airflow)")
        return reason, (Link("Le run dans Airflow", _run_path(snap, ui_root)),)
    first = failed[0]
    batch = f", lot {first.map_index + 1}" if first.map_index >= 0 else ""
    tries = f", après {first.try_number} tentatives" if first.try_number > 1 else ""
    others = sorted({t.task_id for t in failed[1:]} - {first.task_id})
    also = f" Aussi en échec : {', '.join(others)}." if others else ""
    reason = (
        f"Échec : {_FAILURES.get(first.task_id, f'la tâche {first.task_id} a échoué')} "
        f"(tâche {first.task_id}{batch}{tries}). Rien n’est publié.{also}"
    )
    label = f"Journal de la tâche {first.task_id}" + (batch.replace(",", "") if batch else "")
    return reason, (
        Link(label, _task_path(snap, first, ui_root)),
        Link("Le run dans Airflow", _run_path(snap, ui_root)),
    )


def _live(
    snap: Snapshot, now: datetime, clocks: Clocks, ui_root: str
) -> tuple[str, str, tuple[Link, ...]]:
    """The state of a run still going: approval, brief, or the stage in progress."""
    by_id = {t.task_id: t for t in _ordered(snap.tasks)}
    run_link = Link("Le run dans Airflow", _run_path(snap, ui_root))
    approval = by_id.get("approval")
    if snap.approval_pending or (approval and approval.state == "awaiting_input"):
        href = f"{_run_path(snap, ui_root)}/tasks/approval/required_actions"
        since = f" depuis {_elapsed(approval.start, now)}" if approval and approval.start else ""
        return (
            "awaiting_approval",
            f"L’édition attend une réponse{since} : approuvez ou refusez-la dans Airflow "
            "(sans réponse avant la clôture, elle n’est pas publiée).",
            (Link("Répondre (Required Action)", href), run_link),
        )
    brief = by_id.get("wait_for_brief")
    if brief is None or brief.state in _WAITING:
        path = PurePath(snap.brief_path) if snap.brief_path else None
        where = f"le fichier {path.name} dans {path.parent}" if path else "le brief de l’édition"
        if snap.brief_present:
            reason = f"Brief trouvé ({where}) : la nuit démarre."
        else:
            cutoff = night_of(snap.edition, clocks).brief_cutoff if snap.edition else None
            until = f" jusqu’à {two_clocks(cutoff, clocks)}" if cutoff else ""
            reason = (
                f"En attente du brief : {where}{until}. Sans brief à cette heure, "
                "rien n’est publié."
            )
        return "waiting_brief", reason, (run_link,)
    busy = [t for t in _ordered(snap.tasks) if t.state in _BUSY]
    if busy:
        current = busy[0]
        batches_of = [t for t in busy if t.task_id == current.task_id]
        starts = [t.start for t in batches_of if t.start]
        since = f" depuis {_elapsed(min(starts), now)}" if starts else ""
        batches = f", {len(batches_of)} lots" if len(batches_of) > 1 else ""
        retry = (
            f" (nouvelle tentative n° {current.try_number + 1})"
            if current.state == "up_for_retry"
            else ""
        )
        also = sorted({_stage(t.task_id) for t in busy} - {_stage(current.task_id)})
        reason = (
            f"Étape en cours : {_stage(current.task_id)} ({current.task_id}{batches}){since}{retry}"
            + (f" ; en même temps : {', '.join(also)}." if also else ".")
        )
        links: tuple[Link, ...] = (
            Link(f"Journal de la tâche {current.task_id}", _task_path(snap, current, ui_root)),
            run_link,
        )
    else:
        reason, links = "Entre deux étapes : la suivante va démarrer.", (run_link,)
    if snap.run_start:
        reason += f" Nuit démarrée il y a {_elapsed(snap.run_start, now)}."
    return "running", reason, links


def describe(snap: Snapshot, now: datetime, clocks: Clocks, *, ui_root: str = "") -> Tonight:
    """The one state the view shows for tonight, with why and where to look.

    The latest run is tonight's while it runs, and for the rest of its edition's day (Paris)
    once finished; before that, or without a run, the next night is scheduled (or the DAG
    paused). A failed task makes the night failed, whatever colour the run has in Airflow.
    ``ui_root`` prefixes the Airflow UI's links (its base path, usually empty).
    """
    next_start = _next_start(snap, now, clocks)
    if snap.run_id is None:
        return _scheduled(snap, now, clocks, ui_root)
    today = now.astimezone(clocks.campaign_tz).date()
    active = snap.run_state in _ACTIVE_RUN
    if not active and snap.edition is not None and snap.edition < today:
        return _scheduled(snap, now, clocks, ui_root)
    tasks = {t.task_id: t.state for t in snap.tasks}
    record = snap.record or {}
    run_link = Link("Le run dans Airflow", _run_path(snap, ui_root))

    def told(state: str, reason: str, links: tuple[Link, ...]) -> Tonight:
        return Tonight(state, LABELS[state], reason, snap.edition, snap.run_id, links, next_start)

    failed_task = any(s == "failed" for t, s in tasks.items() if t != _TEARDOWN)
    if failed_task or snap.run_state == "failed":
        reason, links = _failed(snap, ui_root)
        if snap.run_state == "success":
            reason += " Attention : Airflow affiche ce run en vert, à signaler à l’équipe data."
        return told("failed", reason, links)
    if tasks.get("publish") == "success":
        publish = next(t for t in snap.tasks if t.task_id == "publish")
        when = f" à {two_clocks(publish.end, clocks)}" if publish.end else ""
        return told("published", f"Publiée{when}.", (run_link,))
    if active:
        state, reason, links = _live(snap, now, clocks, ui_root)
        if snap.deadline is not None and now >= snap.deadline:
            reason = (
                f"Heure limite de publication dépassée ({two_clocks(snap.deadline, clocks)}) : "
                f"rien n’est encore publié. {reason}"
            )
            state = "late"
        if snap.paused:
            reason += " Le DAG est en pause : aucune nouvelle tâche ne démarre."
        return told(state, reason, links)
    # Finished and green: the status record says why nothing was published.
    recorded = record.get("state")
    if recorded in {"skipped", "rejected"}:
        return told(str(recorded), str(record.get("reason") or LABELS[str(recorded)]), (run_link,))
    return told(
        "skipped",
        "Terminée sans publication ; la raison n’est pas encore enregistrée "
        "(voir les tâches gate et record du run).",
        (run_link,),
    )


def next_nights_table(now: datetime, settings: Settings, count: int = 7) -> list[dict[str, Any]]:
    """The next ``count`` nights: start and deadline in both clocks, DST and silence flagged."""
    clocks = settings.clocks
    nights = next_nights(now, count, clocks)
    rows = schedule_rows(nights[0].edition, nights[-1].edition, settings)
    table = []
    for row in rows:
        night = row.night
        notes = []
        length = night.deadline.astimezone(UTC) - night.start.astimezone(UTC)
        # Aware datetimes sharing one tzinfo subtract as wall clocks: UTC gives the real length.
        wall = datetime.combine(night.edition, clocks.publish_deadline) - datetime.combine(
            night.start.astimezone(clocks.campaign_tz).date(), clocks.nightly_start
        )
        clocks_change = length != wall
        if clocks_change:
            hours = int(length.total_seconds() // 3600)
            minutes = int(length.total_seconds() // 60 % 60)
            notes.append(f"Changement d’heure à Paris : la nuit dure {hours} h {minutes:02d}")
        if row.offset_changed:
            notes.append(f"Décalage Paris–Montréal : {row.offset_hours:g} h dès cette nuit")
        elif row.offset_hours != 6:
            notes.append(f"Décalage Paris–Montréal de {row.offset_hours:g} h")
        if row.freeze is not None:
            where = f" ({row.freeze.territory})" if row.freeze.territory else ""
            notes.append(
                f"Silence électoral : {row.freeze.election.name}{where}, rien n’est publié"
            )
        table.append(
            {
                "edition": night.edition.isoformat(),
                "start": two_clocks(night.start, clocks),
                "deadline": two_clocks(night.deadline, clocks),
                "dst": clocks_change or row.offset_changed or row.offset_hours != 6,
                "frozen": row.freeze is not None,
                "notes": notes,
            }
        )
    return table
