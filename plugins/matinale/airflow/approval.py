"""Human approval before publish (Airflow's HITL ApprovalOperator), with a safe timeout.

Staff see the edition's counts and a preview link (the Matinale view serves the run's bundle
from the work store before anything is published) and choose « Publier » or « Ne pas
publier ». The wait lasts until ``clocks.approval_closes`` (campaign time) of the edition's
day; when nobody has answered by then the default answer is « Ne pas publier »: the safe
default is not to publish.

The task is always in the nightly DAG, so the graph has one shape: with approval off
(``MATINALE_APPROVAL``, the default) it skips itself before asking anyone, and ``publish``
(trigger rule ``none_failed``) goes on after the gate.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from airflow.providers.standard.operators.hitl import ApprovalOperator

from matinale.schedule import approval_wait
from matinale.settings import cached_settings

__all__ = ["EditionApproval"]


class EditionApproval(ApprovalOperator):
    """ApprovalOperator in French whose response timeout ends at the edition's approval close.

    The timeout is an instant in campaign time, not a duration known when the DAG is parsed,
    so it is computed when the task starts waiting.
    """

    # The buttons staff see (ApprovalOperator builds its two options from these).
    APPROVE = "Publier"
    REJECT = "Ne pas publier"

    def __init__(self, *, gate_task_id: str = "gate", **kwargs: Any) -> None:
        pull = "ti.xcom_pull(task_ids='" + gate_task_id + "', key="
        super().__init__(
            subject="Publier l’édition du {{ " + pull + "'decision')['edition_label'] }} ?",
            # Tonight's automatic territorial packs (matinale.territories), named for staff.
            body="{{ " + pull + "'approval_body') }}"
            "{{ ((ti.xcom_pull(task_ids='segment') or {}).get('territories') or {})"
            ".get('territories_text', '') }}",
            defaults=self.REJECT,
            **kwargs,
        )
        self.gate_task_id = gate_task_id

    def execute(self, context: Any) -> Any:
        if not cached_settings().approval:
            from airflow.sdk.exceptions import AirflowSkipException

            # Skipped, not failed: publish's trigger rule (none_failed) lets the night go on.
            raise AirflowSkipException(
                "Approval is off (MATINALE_APPROVAL): publish follows the gate"
            )
        decision = context["ti"].xcom_pull(task_ids=self.gate_task_id, key="decision")
        edition = date.fromisoformat(decision["edition"])
        self.response_timeout = approval_wait(edition, datetime.now(UTC), cached_settings().clocks)
        self.log.info(
            "Waiting for approval of edition %s for at most %s; no answer = %r (not published)",
            edition,
            self.response_timeout,
            self.REJECT,
        )
        return super().execute(context)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        # A reject skips downstream by raising, so the return value is never pushed: keep the
        # answer under its own key first, for the night's status record. ``chosen`` holds
        # Airflow's own option ids (Approve / Reject) whatever the labels staff saw, so the
        # record reads the same if the labels change; ``label`` is what they clicked.
        who = event.get("responded_by_user") or {}
        chosen = list(event.get("chosen_options") or [])
        context["ti"].xcom_push(
            key="answer",
            value={
                "chosen": [
                    ApprovalOperator.APPROVE if c == self.APPROVE else ApprovalOperator.REJECT
                    for c in chosen
                ],
                "label": chosen[0] if chosen else None,
                "by": who.get("name") if isinstance(who, dict) else None,
                "timed_out": bool(event.get("timedout")),
            },
        )
        return super().execute_complete(context, event)
