"""``matinale territories --top 30`` and ``--json`` on the real extract and a sample file."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from matinale.cli import main


@pytest.fixture(scope="module")
def supporters(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from matinale.dev.sample import write_sample

    return write_sample(50_000, 5, tmp_path_factory.mktemp("sample") / "supporters.csv")


@pytest.fixture(autouse=True)
def _empty_inbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MATINALE_VAR", str(tmp_path))


def test_top_30_prints_the_figures_behind_each_rank(
    supporters: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["territories", "--top", "30", "--supporters", str(supporters)]) == 0
    out = capsys.readouterr().out
    ranks = [line for line in out.splitlines() if re.match(r"^ {0,3}\d+  \S{5}  ", line)]
    assert len(ranks) == 30 and ranks[0].split()[0] == "1" and ranks[-1].split()[0] == "30"
    assert "abst. %" in out and "symp." in out and "Licence Ouverte 2.0" in out
    assert "3 villes entières" in out and "89 sans coordonnées" in out


def test_json_has_codes_as_text_and_nothing_under_the_floor(
    supporters: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["territories", "--top", "30", "--json", "--supporters", str(supporters)]) == 0
    document = json.loads(capsys.readouterr().out)
    rows = document["territories"]
    assert len(rows) == 30 and all(isinstance(row["insee"], str) for row in rows)
    assert {"insee", "nom", "score", "abstention", "potential", "supporters", "reach"} <= set(
        rows[0]
    )
    assert all(row["supporters"] >= document["floor"] == 50 for row in rows)
    assert not {"75056", "69123", "13055"} & {row["insee"] for row in rows}
    assert document["counts"]["below_floor"] > 0


def test_without_a_supporter_file_it_ranks_on_public_figures(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["territories", "--top", "5", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["territories"]
    assert [row["insee"] for row in rows][:1] == ["31555"] and "supporters" not in rows[0]
    leading_zero = main(["territories", "--top", "400", "--json"])
    assert leading_zero == 0
    codes = [row["insee"] for row in json.loads(capsys.readouterr().out)["territories"]]
    assert any(code.startswith("0") for code in codes)  # 06088 Nice: the zero is kept
