from __future__ import annotations

from pathlib import Path

import pytest

from matinale.settings import SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_project_campaign_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MATINALE_HOME", str(ROOT))
    settings = load_settings()
    assert settings.campaign.candidate == "Camille Durand"
    assert settings.clocks.campaign_tz.key == "Europe/Paris"
    assert settings.clocks.team_tz.key == "America/Montreal"
    assert settings.clocks.publish_deadline.strftime("%H:%M") == "06:30"
    assert set(settings.channels) <= {"x", "facebook", "instagram", "whatsapp", "sms", "email"}


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "campaign.yaml"
    path.write_text((ROOT / "campaign.yaml").read_text(encoding="utf-8") + "\n" + text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("clocks:\n  campaign_timezone: Europe/Pariss\n", "clocks.campaign_timezone"),
        ("clocks:\n  publish_deadline: '6h30'\n", "clocks.publish_deadline"),
        ("content:\n  channels: [x, tiktok]\n", "tiktok"),
        ("links:\n  presign_expiry_hours: 500\n", "presign_expiry_hours"),
    ],
)
def test_bad_values_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: str, message: str) -> None:
    monkeypatch.setenv("MATINALE_HOME", str(ROOT))
    with pytest.raises(SettingsError, match=message):
        load_settings(_write(tmp_path, extra))


def test_work_store_env_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MATINALE_HOME", str(ROOT))
    monkeypatch.setenv("MATINALE_WORK_STORE", "ftp")
    with pytest.raises(SettingsError, match="MATINALE_WORK_STORE"):
        load_settings()


@pytest.mark.parametrize(
    ("value", "expected"),
    [("", None), ("https://s3.ma-campagne.fr/", "https://s3.ma-campagne.fr"), ("http://localhost:8333", "http://localhost:8333")],
)
def test_public_s3_url_is_an_origin(monkeypatch: pytest.MonkeyPatch, value: str, expected: str | None) -> None:
    monkeypatch.setenv("MATINALE_HOME", str(ROOT))
    monkeypatch.setenv("MATINALE_S3_PUBLIC_URL", value)
    assert load_settings().public_s3_url == expected


@pytest.mark.parametrize("value", ["s3.ma-campagne.fr", "ftp://s3.example.org", "https://key:secret@s3.example.org", "https://s3.example.org/?x=1"])
def test_a_public_s3_url_that_is_not_one_is_named(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("MATINALE_HOME", str(ROOT))
    monkeypatch.setenv("MATINALE_S3_PUBLIC_URL", value)
    with pytest.raises(SettingsError, match="MATINALE_S3_PUBLIC_URL"):
        load_settings()
