"""``make run`` on a broken brief: a short table of the stages, then the error's message last.

The real demo (``matinale demo``: SeaweedFS, ``airflow dags test`` on a SQLite home) runs on
a brief citing a source outside ``links.allowed_domains``: it exits non-zero, prints one line
per stage that ran, the failing task and where Airflow's full output is, and ends on the
brief's error message, without a traceback.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
BAD_SOURCE = "https://evil.example.com/chiffres"


def test_make_run_on_a_broken_brief_ends_with_its_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import matinale.dev.local as local

    monkeypatch.setenv("MATINALE_HOME", str(ROOT))
    monkeypatch.setenv("MATINALE_VAR", str(tmp_path / "var"))
    sample = local.sample_brief_for

    def broken(settings: object, edition: object) -> str:
        text = sample(settings, edition)  # type: ignore[arg-type]
        return text.replace("https://www.insee.fr/fr/statistiques/serie/001759970", BAD_SOURCE, 1)

    monkeypatch.setattr(local, "sample_brief_for", broken)

    assert local.run_demo(rows=3_000) == 1

    out, err = capsys.readouterr()
    lines = out.splitlines()
    table = lines[lines.index(next(x for x in lines if x.split()[:2] == ["stage", "seconds"])) :]
    assert [row.split()[0] for row in table[1:]] == ["wait_for_brief", "prepare", "record"], out
    assert table[2].endswith("FAILED") and table[3].endswith("night failed"), out
    assert "Bundle:" not in out and "Traceback" not in out + err
    log = tmp_path / "var" / "logs" / "run.log"
    said = err.strip().splitlines()
    assert said[0] == f"The night failed (task prepare); Airflow's full output: {log}"
    assert said[-1].startswith("Error: ") and BAD_SOURCE in said[-1], err
    assert "is not in links.allowed_domains" in said[-1]
    assert "Traceback" in log.read_text(encoding="utf-8")  # everything is in the log
