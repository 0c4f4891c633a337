"""Fail fast: a data or configuration error fails its task at once, with its message; only a
transient failure (S3, network, database) is raised again for Airflow to retry.

``glue.task_errors`` is the one place that decides; every task body goes through it. The
broken brand kit and template here are real files read by the real stages.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from matinale import night
from matinale.airflow import glue
from matinale.airflow.notify import alert_text
from matinale.content import FitError, RulesError
from matinale.errors import MatinaleError, TransientError
from matinale.publish import PublishError, S3AccessError
from matinale.settings import cached_settings
from matinale.store import StoreError
from matinale.visuals import BrandError, TextFitError, render_card

ROOT = Path(__file__).resolve().parents[3]
TEMPLATES = ROOT / "content_templates"
BATCH = ["18-24-p01"]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of the project's settings whose templates a test may break, and a local run."""
    home = tmp_path / "home"
    home.mkdir()
    for name in ("campaign.yaml", "segments"):
        (home / name).symlink_to(ROOT / name)
    shutil.copytree(TEMPLATES, home / "content_templates", ignore=shutil.ignore_patterns("fonts"))
    (home / "content_templates" / "fonts").symlink_to(TEMPLATES / "fonts")
    inbox = tmp_path / "var" / "inbox"
    (inbox / "supporters").mkdir(parents=True)
    (inbox / "briefs").mkdir()
    (inbox / "supporters" / "supporters.csv").write_text("supporter_id\nA-0001\n", encoding="utf-8")
    shutil.copy(TEMPLATES / "sample_brief.yaml", inbox / "briefs" / "2026-11-24.yaml")
    monkeypatch.setenv("MATINALE_HOME", str(home))
    monkeypatch.setenv("MATINALE_VAR", str(tmp_path / "var"))
    monkeypatch.setenv("MATINALE_WORK_STORE", "local")
    # No S3 here: prepare reserves no short-code stem (the e2e and stack tests do).
    monkeypatch.setenv("MATINALE_LINKS_PUBLIC_URL", "off")
    monkeypatch.delenv("MATINALE_INBOX", raising=False)
    cached_settings.cache_clear()
    yield home
    cached_settings.cache_clear()


def _context(**params: Any) -> Any:
    return {
        "params": params,
        "dag_run": SimpleNamespace(
            run_after=datetime(2026, 11, 24, 0, 0, tzinfo=UTC),
            run_id="scheduled__2026-11-24T00:00:00+00:00",
        ),
    }


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} is not in {path.name}: update the test"
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_a_broken_template_fails_the_content_task_at_once(home: Path) -> None:
    ctx = glue.run_stage(night.PREPARE, _context())
    _edit(home / "content_templates" / "framing.yaml", "angle: climat", "angle: climate")
    with pytest.raises(AirflowFailException) as failed:
        glue.run_stage(night.CONTENT, _context(), ctx, BATCH)
    assert isinstance(failed.value.__cause__, RulesError)
    assert str(failed.value) == str(failed.value.__cause__)
    assert "angle 'climate' is not defined" in str(failed.value)


def test_a_broken_brand_kit_fails_the_visuals_task_at_once(home: Path) -> None:
    ctx = glue.run_stage(night.PREPARE, _context())
    _edit(home / "content_templates" / "brand.yaml", "Lato-Regular.ttf", "Arial.ttf")
    with pytest.raises(AirflowFailException) as failed:
        glue.run_stage(night.VISUALS, _context(), ctx, BATCH)
    assert isinstance(failed.value.__cause__, BrandError)
    assert "Arial.ttf" in str(failed.value)


def _text_fit_error() -> TextFitError:
    fields = {
        "tagline": "Voter, c'est un devoir civique.",
        "headline": "Un médecin pour chacun",
        "body": "Trop long " * 300,
        "cta": "Venez à la réunion publique",
        "link": "https://ensemble-demain.example.org/sante",
        "footer": "Ensemble Demain – campagne de Camille Durand.",
    }
    with pytest.raises(TextFitError) as caught:
        render_card(fields, templates_dir=TEMPLATES)
    return caught.value


def test_text_that_does_not_fit_fails_the_task_at_once(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = glue.run_stage(night.PREPARE, _context())
    error = _text_fit_error()

    def stage(*args: Any, **kwargs: Any) -> dict[str, Any]:
        raise error

    monkeypatch.setattr(night, "call_stage", stage)
    with pytest.raises(AirflowFailException) as failed:
        glue.run_stage(night.VISUALS, _context(), ctx, BATCH)
    assert failed.value.__cause__ is error and str(failed.value) == str(error)


def _botocore_connection_error() -> Exception:
    from botocore.exceptions import EndpointConnectionError

    return EndpointConnectionError(endpoint_url="http://127.0.0.1:1")


def _raised_from(error: Exception, cause: Exception) -> Exception:
    try:
        raise error from cause
    except Exception as raised:
        return raised


@pytest.mark.parametrize(
    "make",
    [
        lambda: StoreError("S3Store('s3://private/work') is unreachable", retryable=True),
        _botocore_connection_error,
        lambda: S3AccessError("cannot reach S3 at http://127.0.0.1:1"),
        lambda: _raised_from(PublishError("Run x was not promoted"), _botocore_connection_error()),
        lambda: TransientError("the database did not answer"),
        lambda: ConnectionResetError("connection reset by peer"),
    ],
    ids=["store-s3", "botocore", "s3-access", "publish-from-s3", "transient", "network"],
)
def test_transient_errors_are_raised_again_for_airflow_to_retry(
    make: Callable[[], Exception],
) -> None:
    error = make()
    with pytest.raises(type(error)) as raised, glue.task_errors():
        raise error
    assert raised.value is error


@pytest.mark.parametrize(
    "error",
    [
        StoreError("LocalStore('/var/work') has no 'runs/x/segments.json': did the stage run?"),
        PublishError("the bundle in the work store does not match its manifest; rebuild it"),
        night.NightError("412 of 1000 rows quarantined: the export looks broken"),
        FitError("segment 18-24-p01, channel x, theme sante: does not fit"),
        glue.UnknownSegments("Param 'segments' names ['x'], which this night did not make"),
    ],
    ids=["store-missing-key", "publish-data", "night", "fit", "unknown-segments"],
)
def test_data_errors_fail_at_once_with_their_message(error: MatinaleError) -> None:
    with pytest.raises(AirflowFailException) as failed, glue.task_errors():
        raise error
    assert failed.value.__cause__ is error and str(failed.value) == str(error)


def test_every_task_body_goes_through_task_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    """plan, gate, record and retention map errors too: a wrong setting fails at once."""
    from matinale.settings import SettingsError

    def broken() -> Any:
        raise SettingsError("campaign.yaml:3: clocks.nightly_start: '25:00' is not a time")

    monkeypatch.setattr(glue, "cached_settings", broken)
    calls: list[Callable[[], Any]] = [
        lambda: glue.plan({}, {}),
        lambda: glue.gate({}, _context()),
        lambda: glue.record(_context()),
        lambda: glue.retention(_context()),
        lambda: glue.run_stage(night.CONTENT, _context(), {}, BATCH),
    ]
    for call in calls:
        with pytest.raises(AirflowFailException, match="'25:00' is not a time"):
            call()


def test_the_brief_sensor_fails_at_once_on_a_wrong_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from matinale.airflow import sensors
    from matinale.settings import SettingsError

    def broken() -> Any:
        raise SettingsError("campaign.yaml:9: clocks.brief_cutoff: missing")

    monkeypatch.setattr(sensors, "cached_settings", broken)
    sensor = sensors.BriefSensor(task_id="wait_for_brief")
    with pytest.raises(AirflowFailException, match="brief_cutoff: missing"):
        sensor.execute(_context())
    with pytest.raises(AirflowFailException, match="brief_cutoff: missing"):
        sensor.execute_complete(_context(), {"status": "missed", "path": "/inbox/briefs/x.yaml"})


def test_the_failure_alert_gives_the_errors_own_message(monkeypatch: pytest.MonkeyPatch) -> None:
    """The alert names the Matinale error and its message (every line of what to fix), not
    AirflowFailException and never a traceback."""
    monkeypatch.setenv("MATINALE_HOME", str(ROOT))
    cached_settings.cache_clear()
    error = RulesError(
        "framing.yaml, line 12: rules[1].angle: angle 'climate' is not defined\n  fix it"
    )
    with pytest.raises(AirflowFailException) as failed, glue.task_errors():
        raise error
    context = {
        "dag_run": SimpleNamespace(
            run_id="manual__1", run_after=None, conf={"edition_date": "2026-11-24"}
        ),
        "ti": SimpleNamespace(task_id="content"),
        "exception": failed.value,
    }
    text = alert_text("task_failed", context)
    cached_settings.cache_clear()
    assert "content" in text and "24/11/2026" in text
    assert (
        "RulesError: framing.yaml, line 12: rules[1].angle: angle 'climate' is not defined" in text
    )
    assert text.endswith("\n  fix it") and "AirflowFailException" not in text
    assert "Traceback" not in text


def test_default_args_retry_transient_errors_and_alert_once() -> None:
    """The DAGs' default_args keep retries ≥ 2 (for transient errors, as today) and one
    failure alert; a non-retryable error skips the retries through AirflowFailException."""
    from matinale.airflow.notify import MatinaleNotifier

    args = glue.default_args()
    assert args["retries"] >= 2
    assert isinstance(args["on_failure_callback"], MatinaleNotifier)
    assert "on_retry_callback" not in args, "a retry is not an alert: only the final failure is"
