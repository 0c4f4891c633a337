"""Staff approval before publish: French buttons, no answer = not published, skipped when off.

The real ``EditionApproval`` runs here without a server: its ``execute`` up to the point it
would ask staff (Airflow's own wait is replaced), and its ``execute_complete`` with the
events Airflow sends back.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from airflow.providers.standard.operators.hitl import ApprovalOperator, HITLOperator
from airflow.sdk.exceptions import AirflowSkipException

from matinale.airflow.approval import EditionApproval
from matinale.settings import cached_settings


class Ti:
    def __init__(self, pulled: dict[str, Any] | None = None) -> None:
        self.pulled = pulled or {}
        self.pushed: dict[str, Any] = {}

    def xcom_pull(self, task_ids: str, key: str = "return_value", **kwargs: Any) -> Any:
        return self.pulled.get(key)

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


@pytest.fixture
def approval(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("MATINALE_APPROVAL", "on")
    cached_settings.cache_clear()
    yield "on"
    cached_settings.cache_clear()


def test_buttons_and_texts_are_french_and_no_answer_means_not_published() -> None:
    op = EditionApproval(task_id="approval")
    assert op.options == ["Publier", "Ne pas publier"]
    assert op.defaults == ["Ne pas publier"]
    assert op.subject.startswith("Publier l’édition du ") and "'" not in op.subject.split("{{")[0]


def test_skips_itself_when_approval_is_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MATINALE_APPROVAL", "off")
    cached_settings.cache_clear()
    try:
        with pytest.raises(AirflowSkipException):
            EditionApproval(task_id="approval").execute({"ti": Ti()})
    finally:
        cached_settings.cache_clear()


def test_on_it_waits_until_the_approval_closes(
    approval: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[Any] = []
    monkeypatch.setattr(HITLOperator, "execute", lambda self, context: asked.append(self))
    op = EditionApproval(task_id="approval")
    op.execute({"ti": Ti({"decision": {"edition": "2099-11-24", "edition_label": "24/11/2099"}})})
    assert asked == [op]
    assert op.response_timeout is not None and op.response_timeout.total_seconds() > 0


def _event(chosen: list[str], by: str | None, timedout: bool = False) -> dict[str, Any]:
    return {
        "chosen_options": chosen,
        "params_input": {},
        "responded_at": datetime(2026, 11, 24, 5, 0, tzinfo=UTC),
        "responded_by_user": {"id": "1", "name": by} if by else None,
        "timedout": timedout,
    }


@pytest.mark.parametrize(
    ("chosen", "by", "timedout", "answer"),
    [
        (["Publier"], "Claire", False, ["Approve"]),
        (["Ne pas publier"], "Claire", False, ["Reject"]),
        (["Ne pas publier"], None, True, ["Reject"]),
    ],
)
def test_the_answer_is_kept_for_the_status_record(
    chosen: list[str], by: str | None, timedout: bool, answer: list[str]
) -> None:
    """The record reads Airflow's own option ids, whatever the labels staff clicked."""
    ti = Ti()
    EditionApproval(task_id="approval").execute_complete(
        {"ti": ti, "task": None}, _event(chosen, by, timedout)
    )
    assert ti.pushed["answer"] == {
        "chosen": answer,
        "label": chosen[0],
        "by": by,
        "timed_out": timedout,
    }
    assert answer[0] in (ApprovalOperator.APPROVE, ApprovalOperator.REJECT)
