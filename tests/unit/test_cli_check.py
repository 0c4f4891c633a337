"""``matinale check`` (exit 0 ready, 1 not ready, 2 could not check) and ``validate`` on a
missing suppression folder (a warning, as the night reads it). The project copy and inbox
come from the ``preflight_home`` fixture (tests/unit/conftest.py); the edition is always given or the clock frozen.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from matinale import cli, preflight

EDITION = date(2026, 11, 24)


@pytest.fixture
def home(preflight_home: Path) -> Path:
    """The project copy of tests/unit/conftest.py: ready for EDITION until a test breaks it."""
    return preflight_home


def inbox_of(home: Path) -> Path:
    return home.parent / "var" / "inbox"


def _check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = cli.main(["check", *args])
    return code, capsys.readouterr().out


def test_a_ready_project_exits_0_with_one_line_per_area(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _check(capsys, "--edition", str(EDITION))
    assert code == cli.EXIT_READY == 0
    lines = out.splitlines()
    assert lines[0] == "Edition 2026-11-24:"
    assert [line.split()[0] for line in lines[1:-1]] == list(preflight.AREAS)
    assert lines[-1] == "Ready."


def test_json_lists_every_area(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.rmtree(inbox_of(home) / "suppression")
    code, out = _check(capsys, "--edition", str(EDITION), "--json")
    report = json.loads(out)
    assert code == 0 and report["edition"] == "2026-11-24" and report["ready"] is True
    assert [c["area"] for c in report["checks"]] == list(preflight.AREAS)
    inbox = report["checks"][-1]
    assert inbox["status"] == "warning" and "suppression" in inbox["messages"][0]


def test_not_ready_exits_1_naming_the_problem(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (inbox_of(home) / "briefs" / f"{EDITION}.yaml").unlink()
    code, out = _check(capsys, "--edition", str(EDITION))
    assert code == cli.EXIT_NOT_READY == 1
    assert "  brief      error    " in out and "no brief for this edition" in out
    assert out.splitlines()[-1] == "NOT ready: errors in brief."


def test_the_default_edition_is_the_next_one(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """17:00 in Montréal (23:00 in Paris) on the 23rd: tomorrow morning's edition."""
    real = preflight.check_project

    def at_five_in_montreal(edition: Any = None, **kwargs: Any) -> preflight.Readiness:
        return real(edition, now=datetime(2026, 11, 23, 22, 0, tzinfo=UTC), **kwargs)

    monkeypatch.setattr(preflight, "check_project", at_five_in_montreal)
    code, out = _check(capsys)
    assert code == 0 and out.startswith("Edition 2026-11-24:")


def test_a_crash_exits_2(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(preflight, "check_segments", crash)
    assert cli.main(["check", "--edition", str(EDITION), "--json"]) == cli.EXIT_COULD_NOT_CHECK
    captured = capsys.readouterr()
    assert json.loads(captured.out)["ready"] is False
    assert "could not check: RuntimeError: disk on fire" in captured.err


def test_a_wrong_edition_is_refused_by_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["check", "--edition", "24/11/2026"])
    assert exited.value.code == 2 and "use YYYY-MM-DD" in capsys.readouterr().err


def test_validate_reads_a_missing_suppression_folder_as_the_night_does(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nobody suppressed and a warning, not "the night would stop": ingest goes on without it."""
    export = inbox_of(home) / "supporters" / "export.csv"
    missing = inbox_of(home) / "nowhere"
    code = cli.main(["validate", str(export), "--suppression", str(missing), "--on", "2026-11-24"])
    out = capsys.readouterr().out
    assert code in {cli.EXIT_VALID, cli.EXIT_QUARANTINED}
    assert out.startswith(f"Warning: {missing}: not found, so nobody is suppressed")
    assert "The night would stop" not in out
    cli.main(["validate", str(export), "--suppression", str(missing), "--json"])
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert summary["error"] is None and summary["suppressed"] == 0
    assert summary["warnings"] == [preflight.suppression_warning(missing)]


def test_bench_and_cli_share_the_command_parser() -> None:
    from matinale.dev.bench.__main__ import build_parser

    assert build_parser().parse_args(["table", "x.json"]).command == "table"
