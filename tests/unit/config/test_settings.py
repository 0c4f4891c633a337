from __future__ import annotations

from pathlib import Path

import pytest

from matinale.settings import SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[3]


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
    path.write_text(
        (ROOT / "campaign.yaml").read_text(encoding="utf-8") + "\n" + text, encoding="utf-8"
    )
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
def test_bad_values_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: str, message: str
) -> None:
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
    [
        ("", None),
        ("https://s3.ma-campagne.fr/", "https://s3.ma-campagne.fr"),
        ("http://localhost:8333", "http://localhost:8333"),
    ],
)
def test_public_s3_url_is_an_origin(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: str | None
) -> None:
    monkeypatch.setenv("MATINALE_HOME", str(ROOT))
    monkeypatch.setenv("MATINALE_S3_PUBLIC_URL", value)
    assert load_settings().public_s3_url == expected


@pytest.mark.parametrize(
    ("value", "base", "host"),
    [
        (None, "https://liens.ensemble-demain.example.org", "liens.ensemble-demain.example.org"),
        ("http://127.0.0.1:8090/", "http://127.0.0.1:8090", "127.0.0.1"),
        ("off", "", None),
    ],
)
def test_the_link_service_address_and_its_override(
    monkeypatch: pytest.MonkeyPatch, value: str | None, base: str, host: str | None
) -> None:
    """campaign.yaml's links.public_base_url, MATINALE_LINKS_PUBLIC_URL over it (``off``:
    presigned links); the service's host is allowed by itself."""
    monkeypatch.setenv("MATINALE_HOME", str(ROOT))
    if value is None:
        monkeypatch.delenv("MATINALE_LINKS_PUBLIC_URL", raising=False)
    else:
        monkeypatch.setenv("MATINALE_LINKS_PUBLIC_URL", value)
    settings = load_settings()
    assert settings.link_service.public_base_url == base
    if host:
        assert host in settings.allowed_domains
    else:
        assert "127.0.0.1" not in settings.allowed_domains


@pytest.mark.parametrize("value", ["liens.example.org", "https://liens.example.org/p", "ftp://x"])
def test_a_link_service_address_that_is_not_an_origin_is_named(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("MATINALE_HOME", str(ROOT))
    monkeypatch.setenv("MATINALE_LINKS_PUBLIC_URL", value)
    with pytest.raises(SettingsError, match="MATINALE_LINKS_PUBLIC_URL"):
        load_settings()


@pytest.mark.parametrize(
    "value",
    [
        "s3.ma-campagne.fr",
        "ftp://s3.example.org",
        "https://key:secret@s3.example.org",
        "https://s3.example.org/?x=1",
    ],
)
def test_a_public_s3_url_that_is_not_one_is_named(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("MATINALE_HOME", str(ROOT))
    monkeypatch.setenv("MATINALE_S3_PUBLIC_URL", value)
    with pytest.raises(SettingsError, match="MATINALE_S3_PUBLIC_URL"):
        load_settings()


def test_a_bad_value_names_its_file_line_and_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MATINALE_HOME", str(ROOT))
    path = _write(
        tmp_path, "links:\n  allowed_domains: [example.org]\n  presign_expiry_hours: 500\n"
    )
    line = path.read_text(encoding="utf-8").splitlines().index("  presign_expiry_hours: 500") + 1
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    (finding,) = caught.value.findings
    assert (finding.file, finding.line, finding.field) == (path, line, "links.presign_expiry_hours")
    assert str(caught.value) == (
        f"{path}:{line}: links.presign_expiry_hours: Input should be less than or equal to 168 (got 500)"
        " — 1 to 168: S3 presigned links last 7 days at most"
    )


def test_an_unknown_key_is_refused_with_a_suggestion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MATINALE_HOME", str(ROOT))
    with pytest.raises(
        SettingsError,
        match=r"privacy\.pii_alowlist: unknown key 'pii_alowlist' — did you mean 'pii_allowlist'\?",
    ):
        load_settings(_write(tmp_path, "privacy:\n  pii_alowlist: []\n"))


def test_a_campaign_file_with_anchors_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MATINALE_HOME", str(ROOT))
    with pytest.raises(SettingsError, match="anchors and aliases"):
        load_settings(_write(tmp_path, "storage:\n  bundle_bucket: &b one\n  private_bucket: *b\n"))


def test_unquoted_times_and_dates_are_read_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MATINALE_HOME", str(ROOT))
    settings = load_settings(
        _write(tmp_path, "elections:\n  polls_close: 19:00\n  days:\n    - date: 2027-04-11\n")
    )
    (election,) = settings.elections
    assert (election.day.isoformat(), election.polls_close.strftime("%H:%M")) == (
        "2027-04-11",
        "19:00",
    )
    assert (
        settings.raw["elections"]["days"][0]["date"] == "2027-04-11"
    )  # text, as the loader keeps it


def test_empty_sections_take_the_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MATINALE_HOME", str(ROOT))
    settings = load_settings(_write(tmp_path, "clocks:\ncontent:\n  channels:\nretention:\n"))
    assert settings.clocks.nightly_start.strftime("%H:%M") == "01:00"
    assert settings.channels == ("x", "facebook", "instagram", "whatsapp", "sms", "email")
    assert settings.retention.private_outputs_days == 30


def test_the_print_only_mention_is_kept_off_screens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """legal.mention goes on e-mails, SMS and digital cards: the paper-only sentence is
    refused there with the fix, and read from legal.print_mention."""
    monkeypatch.setenv("MATINALE_HOME", str(ROOT))
    assert load_settings().campaign.print_mention == "Ne pas jeter sur la voie publique."
    text = (ROOT / "campaign.yaml").read_text(encoding="utf-8")
    old = 'mention: "Ensemble Demain – campagne de Camille Durand."'
    assert old in text
    path = tmp_path / "campaign.yaml"
    path.write_text(
        text.replace(old, old[:-2] + ' Ne pas jeter sur la voie publique."'), encoding="utf-8"
    )
    with pytest.raises(SettingsError, match=r"legal\.mention.*voie publique.*print_mention"):
        load_settings(path)
