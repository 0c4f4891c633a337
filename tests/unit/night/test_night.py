"""The night's stage functions: STAGES and how a stage is called, what prepare records and
refuses before any work starts."""

from __future__ import annotations

import inspect
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest

from matinale import night
from matinale.content import BriefError
from matinale.settings import load_settings
from matinale.store import LocalStore

ROOT = Path(__file__).resolve().parents[3]
EDITION = date(2026, 11, 24)
RUN = "20261124T000000Z-test"


@pytest.fixture
def inbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MATINALE_HOME", str(ROOT))
    monkeypatch.setenv("MATINALE_VAR", str(tmp_path / "var"))
    monkeypatch.delenv("MATINALE_INBOX", raising=False)
    monkeypatch.delenv("MATINALE_CODE_VERSION", raising=False)
    folder = tmp_path / "var" / "inbox"
    (folder / "supporters").mkdir(parents=True)
    (folder / "briefs").mkdir()
    (folder / "supporters" / "supporters.csv").write_text(
        "supporter_id;prenom\nA-0001;Hélène\n", encoding="utf-8"
    )
    shutil.copy(
        ROOT / "content_templates" / "sample_brief.yaml", folder / "briefs" / f"{EDITION}.yaml"
    )
    return folder


def _prepare(tmp_path: Path) -> dict[str, str]:
    settings = load_settings()
    store = LocalStore(tmp_path / "work")
    ctx = night.run_prepare(settings, store, edition=EDITION, run=RUN)
    return store.get_json(f"{night.RunContext.from_xcom(ctx).prefix}/inputs.json")


def test_prepare_records_every_input_and_the_code_version(inbox: Path, tmp_path: Path) -> None:
    inputs = _prepare(tmp_path)
    assert {
        "campaign.yaml",
        "inbox/supporters/supporters.csv",
        f"inbox/briefs/{EDITION}.yaml",
    } <= set(inputs)
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    assert inputs["code_version"] == (head or "unknown")


def test_an_image_records_the_version_it_was_built_from(
    inbox: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No .git in the image: the Dockerfile passes the commit as MATINALE_CODE_VERSION.
    monkeypatch.setenv("MATINALE_CODE_VERSION", "4e2a244c0ffee")
    assert _prepare(tmp_path)["code_version"] == "4e2a244c0ffee"


def test_a_brief_link_outside_the_allowed_domains_stops_prepare(
    inbox: Path, tmp_path: Path
) -> None:
    brief = inbox / "briefs" / f"{EDITION}.yaml"
    text = brief.read_text(encoding="utf-8")
    assert "https://ensemble-demain.example.org/" in text
    brief.write_text(
        text.replace("https://ensemble-demain.example.org/", "https://evil.example.com/", 1),
        encoding="utf-8",
    )
    # Before ingest reads a million rows, not at the content stage an hour later.
    with pytest.raises(BriefError, match=r"evil\.example\.com is not in links\.allowed_domains"):
        _prepare(tmp_path)
    assert not (tmp_path / "work").exists() or not any((tmp_path / "work").rglob("inputs.json"))


def test_stages_in_night_order_each_a_plain_function_of_the_night() -> None:
    names = [stage.name for stage in night.STAGES]
    assert names == [
        "prepare",
        "ingest",
        "privacy",
        "segment",
        "learn",
        "content",
        "visuals",
        "contact_sheet",
        "bundle",
        "checks",
        "publish",
    ]
    for stage in night.STAGES:
        # The task id is the stage name; the function stays importable as night.run_<name>.
        assert (
            getattr(night, f"run_{stage.name}") is stage.function
            and f"run_{stage.name}" in night.__all__
        )
        assert night.stage(stage.name) is stage
    assert [stage.name for stage in night.STAGES if stage.mapped] == [night.CONTENT, night.VISUALS]
    assert [stage.name for stage in night.STAGES if not stage.retry] == [night.INGEST]
    with pytest.raises(KeyError, match="not a stage"):
        night.stage(night.GATE)


@pytest.mark.parametrize("stage", night.STAGES, ids=lambda stage: stage.name)
def test_a_stage_takes_what_its_function_needs(stage: night.Stage) -> None:
    parameters = list(inspect.signature(stage.function).parameters.values())
    assert [p.name for p in parameters[:2]] == ["settings", "store"]
    rest = parameters[2:]
    required = {p.name for p in rest if p.default is inspect.Parameter.empty}
    assert required <= set(stage.takes) <= {p.name for p in rest}


def test_call_stage_passes_the_inputs_a_stage_takes_by_name() -> None:
    seen: list[tuple] = []

    def run_example(settings, store, ctx, batch):
        seen.append((settings, store, ctx, batch))
        return {"segments": len(batch)}

    stage = night.Stage("example", run_example, takes=("ctx", "batch"))
    assert night.call_stage(stage, "S", "T", ctx="C", batch=["a", "b"], only=None, client=None) == {
        "segments": 2
    }
    assert seen == [("S", "T", "C", ["a", "b"])]
    with pytest.raises(TypeError, match="needs batch"):
        night.call_stage(stage, "S", "T", ctx="C")


def test_content_and_visuals_get_one_batch_per_core(tmp_path: Path) -> None:
    """Each batch's task renders on a pool of every core: one batch per core, every segment
    once and in order; a Param's segments only; fewer segments than cores, one each."""
    from segment_samples import SENIORS

    store = LocalStore(tmp_path / "work")
    ctx = night.RunContext(
        edition=EDITION, run=RUN, supporters_file="unused.csv", brief_file="unused.yaml"
    )
    ids = [f"65plus-p{n:02d}" for n in range(1, 8)]
    store.put_json(f"{ctx.prefix}/segments.json", {"segments": [{**SENIORS, "id": i} for i in ids]})
    assert night.plan_batches(store, ctx, cores=2) == [ids[:4], ids[4:]]
    assert night.plan_batches(store, ctx, cores=4) == [ids[:2], ids[2:4], ids[4:6], ids[6:]]
    assert night.plan_batches(store, ctx, cores=16) == [[i] for i in ids]
    assert night.plan_batches(store, ctx, cores=2, only=ids[:3]) == [ids[:2], ids[2:3]]


def test_skip_visuals_writes_an_empty_card_list_per_segment(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "work")
    ctx = night.RunContext(
        edition=EDITION, run=RUN, supporters_file="unused.csv", brief_file="unused.yaml"
    )
    summary = night.run_visuals(None, store, ctx, ["18-24-p01", "65plus-p02"], skip_visuals=True)  # type: ignore[arg-type]
    assert summary == {"segments": 2, "cards": 0, "skipped": True}
    # The bundle reads one cards.json per segment: an empty list says "no card tonight".
    assert store.get_json(f"{ctx.bundle}/65plus-p02/cards.json") == {
        "segment": "65plus-p02",
        "cards": [],
    }
