"""Staff see tonight's automatic territorial packs in the approval request's body."""

from __future__ import annotations

from typing import Any

import jinja2

from matinale.airflow.approval import EditionApproval


class _Ti:
    def __init__(self, segment: dict[str, Any] | None) -> None:
        self.segment = segment

    def xcom_pull(self, task_ids: str, key: str = "return_value", **kwargs: Any) -> Any:
        return "**Édition**" if task_ids == "gate" else self.segment


def test_approval_body_names_the_automatic_packs() -> None:
    # Protects: the packs made by territories.auto are named to staff before they approve;
    # a night without them (or without the segment's summary) still renders the body.
    body = jinja2.Environment().from_string(EditionApproval(task_id="approval").body)
    text = " : Le Havre (`t-76351`)."
    shown = body.render(ti=_Ti({"territories": {"territories_text": text}}))
    assert shown == "**Édition**" + text
    assert body.render(ti=_Ti(None)) == "**Édition**"
    assert body.render(ti=_Ti({"segments": 3})) == "**Édition**"
