"""The link-state layout in S3: tokens, rotation, link tables, withdrawal markers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from matinale.links.codes import LinkStateError, new_code
from matinale.links.state import LinkState, Table

LINK = {
    "destination": "https://example.org/agir",
    "segment": "s01",
    "theme": "logement",
    "channel": "whatsapp",
    "angle": "mobiliser",
}


def test_ensure_tokens_issues_one_per_segment_once(memory_s3: Any) -> None:
    state = LinkState(memory_s3, "b", "links/")
    first = state.ensure_tokens(["s01", "s02"])
    assert set(first) == {"s01", "s02"}
    assert state.ensure_tokens(["s01", "s02", "s03"]).items() >= first.items()
    stored = json.loads(memory_s3.objects[("b", "links/tokens.json")])
    assert stored["version"] == 1
    assert {v["segment"] for v in stored["tokens"].values()} == {"s01", "s02", "s03"}


def test_rotate_retires_the_old_token_and_remembers_it(memory_s3: Any) -> None:
    state = LinkState(memory_s3, "b")
    old = state.ensure_tokens(["s01", "s02"])
    moves = state.rotate("s01")
    assert list(moves) == [old["s01"]]
    tokens = state.tokens()
    assert tokens[old["s01"]].retired is not None
    assert tokens[moves[old["s01"]]].rotated_from == old["s01"]
    assert state.active(tokens)["s02"] == old["s02"]
    assert len(state.rotate(all_segments=True)) == 2
    with pytest.raises(LinkStateError):
        state.rotate("nope")
    with pytest.raises(LinkStateError):
        state.rotate()


def test_register_run_writes_the_table_and_refuses_codes_of_another_runs_stem(
    memory_s3: Any,
) -> None:
    state = LinkState(memory_s3, "b")
    stem = state.reserve_stem("2026-11-24", "run1")
    assert state.reserve_stem("2026-11-24", "run1") == stem  # a retry keeps its stem
    other = state.reserve_stem("2026-11-25", "run2")
    assert other != stem
    code = stem + new_code()[3:]
    key = state.register_run(
        "2026-11-24", "run1", {code: LINK}, cells=[("s02", "sante", "sms", "quotidien")]
    )
    assert key == "links/tables/2026-11-24/run1.json"
    table = Table.from_json(state.read(key) or {})
    assert table.links[code].destination == LINK["destination"]
    assert ("s01", "logement", "whatsapp", "mobiliser") in table.cells
    assert ("s02", "sante", "sms", "quotidien") in table.cells
    # the same run may be registered again (a retry); another run may not use run1's stem,
    # so a code printed last week can never be taken by tonight's run
    state.register_run("2026-11-24", "run1", {code: LINK})
    with pytest.raises(LinkStateError, match="not reserved for run run2"):
        state.register_run(
            "2026-11-25", "run2", {code: {**LINK, "destination": "https://example.org/x"}}
        )
    with pytest.raises(LinkStateError, match="taken"):
        state.reserve_stem("2026-11-26", "run3", stem=stem)


@pytest.mark.hostile
@pytest.mark.parametrize(
    "links",
    [
        {"short": LINK},
        {"abcdefgh": {**LINK, "destination": "//evil.example"}},
        {"abcdefgh": {**LINK, "segment": "../x"}},
        {"abcdefgh": {k: v for k, v in LINK.items() if k != "angle"}},
    ],
)
def test_register_run_refuses_bad_entries(memory_s3: Any, links: dict[str, Any]) -> None:
    state = LinkState(memory_s3, "b")
    state.reserve_stem("2026-11-24", "r", stem="abc")
    with pytest.raises(LinkStateError):
        state.register_run("2026-11-24", "r", links)


def test_register_run_checks_allowed_domains(memory_s3: Any) -> None:
    state = LinkState(memory_s3, "b")
    state.reserve_stem("2026-11-24", "r", stem="abc")
    with pytest.raises(LinkStateError, match="allowed_domains"):
        state.register_run(
            "2026-11-24", "r", {"abcdefgh": LINK}, allowed_domains=("ensemble.example",)
        )


def test_withdraw_writes_a_marker(memory_s3: Any) -> None:
    state = LinkState(memory_s3, "b", "state/links/")
    assert state.withdraw("2026-11-24", by="ana", reason="erreur") == (
        "state/links/withdrawn/2026-11-24.json"
    )
    assert state.withdrawn() == {"2026-11-24"}
    with pytest.raises(ValueError):
        state.withdraw("2026-11-24/../x")
