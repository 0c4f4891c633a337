"""Hostile input: files and texts built to break the night, garble names or leak people.

Each case asserts the outcome and its message; the time a case takes to fail is measured
and printed (``-s``), never asserted, and reported in README's "Hostile input" table.
"""

from __future__ import annotations

import json
import shutil
import time
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest
from bundle_samples import build
from bundle_samples import settings as bundle_settings
from project_copy import copy_project

from matinale.bundle import read_bundle_files
from matinale.checks import PiiScanner, check_bundle
from matinale.contacts import normalise_phones
from matinale.errors import MatinaleError
from matinale.ingest import ingest_supporters
from matinale.store import LocalStore

pytestmark = pytest.mark.hostile

ROOT = Path(__file__).resolve().parents[2]
ON = date(2026, 11, 24)
HEADER = (
    "supporter_id,first_name,last_name,email,phone,birth_date,postal_code,insee_com,"
    "consent_email,consent_sms\n"
)


def _row(sid: str, first: str, last: str, phone: str = "") -> str:
    return (
        f"{sid},{first},{last},{sid.lower()}@example.org,{phone},1970-03-21,01400,01001,oui,oui\n"
    )


def _timed(label: str, start: float) -> None:
    print(f"[hostile] {label}: {time.perf_counter() - start:.3f} s")


# ------------------------------------------------------------------ encodings


def _mixed_file(path: Path) -> Path:
    """Two exports pasted together: a UTF-8 half and a Windows-1252 half."""
    utf8 = _row("S1", "Frédéric", "Lemaître").encode("utf-8")
    cp1252 = _row("S2", "Hélène", "Dupont").encode("cp1252")
    path.write_bytes(HEADER.encode() + utf8 + cp1252 + _row("S3", "Anne", "Roy").encode())
    return path


def test_mixed_utf8_and_cp1252_is_decoded_line_by_line(tmp_path: Path) -> None:
    start = time.perf_counter()
    result = ingest_supporters(_mixed_file(tmp_path / "mixed.csv"), reference_date=ON)
    _timed("mixed UTF-8 + cp1252 file read", start)
    names = set(result.valid["first_name"] + " " + result.valid["last_name"])
    assert names == {"Frédéric Lemaître", "Hélène Dupont", "Anne Roy"}
    source = result.summary()["source"]
    assert source["encoding"] == "utf-8+cp1252"
    assert source["encoding_lines"] == {"utf-8": 1, "cp1252": 1}


@pytest.mark.parametrize("encoding", ["utf-8", "cp1252", "mixed"])
def test_a_supporters_real_name_in_the_brief_blocks_publishing(
    tmp_path: Path, encoding: str
) -> None:
    path = tmp_path / "export.csv"
    if encoding == "mixed":
        _mixed_file(path)
    else:
        text = HEADER + _row("S1", "Frédéric", "Lemaître") + _row("S2", "Hélène", "Dupont")
        path.write_bytes(text.encode(encoding))
    result = ingest_supporters(path, reference_date=ON)
    scanner = PiiScanner.from_frames([result.valid])
    store = LocalStore(tmp_path / "store")
    # The brief's text, as staff wrote it, names a supporter: it reaches every post.
    build(store, "b", extra_text="\nMerci à Frédéric Lemaître et à Hélène Dupont !")
    files = read_bundle_files(store, "b")
    manifest = json.loads(store.get_bytes("b/manifest.json"))
    report = check_bundle(
        files, manifest, scanner=scanner, allowed_domains=bundle_settings().allowed_domains
    )
    found = {f.value for f in report.findings if f.check == "pii" and "full name" in f.problem}
    assert found == {"f******c l******e", "h****e d****t"}
    assert not report.passed


# ------------------------------------------------------------------ phones


def test_phones_that_cannot_get_an_sms_are_quarantined_for_sms(tmp_path: Path) -> None:
    phones = {
        "S1": ("06 12 34 56 78", ""),  # mobile
        "S2": ("06 39 98 12 34", ""),  # ARCEP fiction mobile block (phonenumbers: invalid)
        "S3": ("01 99 00 12 34", "phone_landline"),
        "S4": ("08 92 12 34 56", "phone_special_rate"),
        "S5": ("06-12-34-56-79 ext 3", "phone_extension"),
        "S6": ("09 12 34 56 78", "phone_not_mobile"),
    }
    path = tmp_path / "export.csv"
    rows = "".join(_row(sid, "Ana", f"Nom{sid}", phone) for sid, (phone, _) in phones.items())
    path.write_text(HEADER + rows, encoding="utf-8")
    start = time.perf_counter()
    result = ingest_supporters(path, reference_date=ON)
    _timed("phones quarantined for SMS", start)
    valid = result.valid.set_index("supporter_id")
    assert len(valid) == 6 and result.counts["quarantined"] == 0  # nobody is lost
    for sid, (_, reason) in phones.items():
        assert bool(valid.loc[sid, "consent_sms"]) is (reason == ""), sid
    report = result.quarantine.set_index("line")
    assert dict(zip(report["reason"], report["column"], strict=True)) == {
        reason: "phone" for _, reason in phones.values() if reason
    }
    extension = report[report["reason"] == "phone_extension"]
    assert "poste" in extension["hint"].iloc[0]
    assert "12 34" not in " ".join(report["value"])  # masked: the number is not shown whole
    assert result.summary()["sms_quarantined"] == 4
    assert valid.loc["S5", "phone"] == "+33612345679"  # still matches the suppression list


def test_only_numbers_the_regexes_cannot_settle_reach_phonenumbers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import matinale.contacts as contacts

    seen: list[str] = []
    real = contacts._phonenumbers_e164

    def spy(values: list[str]) -> list[tuple[str, str]]:
        seen.extend(values)
        return real(values)

    monkeypatch.setattr(contacts, "_phonenumbers_e164", spy)
    result = normalise_phones(pa.array(["0612345678", "0199001234", "+33 6 39 98 12 34", "x 1"]))
    assert seen == ["x 1"]
    assert result.sms is not None
    assert result.sms.to_pylist() == ["", "phone_landline", "", ""]


# ------------------------------------------------------------------ brief texts


def test_a_ten_million_character_title_is_refused_at_once() -> None:
    import pydantic

    from matinale.content.brief import BriefFile

    theme = {
        "id": "a",
        "title": "x" * 10_000_000,
        "key_message": "Un message.",
        "link": "https://example.org/a",
        "call_to_action": "Signez.",
    }
    start = time.perf_counter()
    with pytest.raises(pydantic.ValidationError) as refused:
        BriefFile.model_validate({"edition": "2026-11-24", "themes": [theme]})
    _timed("10M-character title refused", start)
    assert "is 10000000 characters long; at most 80" in str(refused.value)


def _project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of campaign.yaml, segments/ and content_templates/ (fonts linked), and an inbox."""
    from matinale.settings import cached_settings

    home = copy_project(tmp_path)
    (tmp_path / "var" / "inbox" / "briefs").mkdir(parents=True)
    monkeypatch.setenv("MATINALE_HOME", str(home))
    monkeypatch.setenv("MATINALE_VAR", str(tmp_path / "var"))
    monkeypatch.setenv("MATINALE_WORK_STORE", "local")
    for name in ("MATINALE_INBOX", "MATINALE_CAMPAIGN_FILE"):
        monkeypatch.delenv(name, raising=False)
    cached_settings.cache_clear()
    return home


@pytest.mark.parametrize(
    ("old", "new", "where", "char"),
    [
        ('"Un médecin pour chacun"', '"Un médecin pour chacun 🩺"', "themes[1].title", "U+1FA7A"),
        (
            'title: "Pouvoir d\'achat : des prix justes"',
            'title: "Pouvoir d\'achat\u200f : des prix justes"',
            "themes[0].title",
            "U+200F",
        ),
    ],
)
def test_characters_a_card_font_cannot_draw_are_found_before_the_night(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, old: str, new: str, where: str, char: str
) -> None:
    from matinale.preflight import check_brief
    from matinale.settings import load_settings

    home = _project(tmp_path, monkeypatch)
    brief = (home / "content_templates" / "sample_brief.yaml").read_text(encoding="utf-8")
    assert old in brief
    target = tmp_path / "var" / "inbox" / "briefs" / f"{ON}.yaml"
    target.write_text(brief.replace(old, new), encoding="utf-8")
    settings = load_settings(home / "campaign.yaml")
    start = time.perf_counter()
    check, loaded = check_brief(settings, ON, None)
    _timed(f"glyph {char} found by check/prepare", start)
    assert check.status == "error" and loaded is None
    message = "\n".join(check.messages)
    assert f"{ON}.yaml: {where}: the card font" in message and char in message


# ------------------------------------------------------------------ YAML bombs, every kind

_BOMB = 'a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]\nb: &b [*a, *a, *a, *a, *a, *a]\n'


def _yaml_kinds(home: Path, inbox: Path) -> dict[str, tuple[Path, object]]:
    from matinale.content import load_brief, load_channels, load_rules
    from matinale.segment import load_definitions
    from matinale.settings import load_settings
    from matinale.visuals import load_kit

    templates, segments = home / "content_templates", home / "segments"
    brief = inbox / "briefs" / f"{ON}.yaml"
    return {
        "campaign.yaml": (home / "campaign.yaml", lambda: load_settings(home / "campaign.yaml")),
        "brief": (brief, lambda: load_brief(brief, ON)),
        "framing.yaml": (templates / "framing.yaml", lambda: load_rules(templates)),
        "channels.yaml": (templates / "channels.yaml", lambda: load_channels(templates)),
        "brand.yaml": (templates / "brand.yaml", lambda: load_kit(templates)),
        "cards/square.yaml": (templates / "cards" / "square.yaml", lambda: load_kit(templates)),
        "age_bands.yaml": (segments / "age_bands.yaml", lambda: load_definitions(segments)),
        "profiles.yaml": (segments / "profiles.yaml", lambda: load_definitions(segments)),
        "territories.yaml": (segments / "territories.yaml", lambda: load_definitions(segments)),
    }


KINDS = [
    "campaign.yaml",
    "brief",
    "framing.yaml",
    "channels.yaml",
    "brand.yaml",
    "cards/square.yaml",
    "age_bands.yaml",
    "profiles.yaml",
    "territories.yaml",
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("attack", ["aliases", "oversize"])
def test_every_yaml_the_night_reads_refuses_bombs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, attack: str
) -> None:
    from matinale.content import load_channels, load_rules

    home = _project(tmp_path, monkeypatch)
    inbox = tmp_path / "var" / "inbox"
    shutil.copy(home / "content_templates" / "sample_brief.yaml", inbox / "briefs" / f"{ON}.yaml")
    path, load = _yaml_kinds(home, inbox)[kind]
    load_rules.cache_clear()
    getattr(load_channels, "cache_clear", lambda: None)()
    original = path.read_text(encoding="utf-8")
    if attack == "aliases":
        path.write_text(_BOMB + original, encoding="utf-8")
    else:
        path.write_text(original + "#" + "x" * (1024 * 1024) + "\n", encoding="utf-8")
    start = time.perf_counter()
    with pytest.raises(MatinaleError) as refused:
        load()  # type: ignore[operator]
    _timed(f"{kind} with {attack} refused", start)
    message = str(refused.value)
    assert path.name in message
    if attack == "aliases":
        assert "alias" in message.lower() or "anchor" in message.lower()
    else:
        assert "1048576" in message.replace(",", "").replace("\u202f", "") or "MB" in message
    load_rules.cache_clear()


# ------------------------------------------------------------------ task timeouts


def test_every_task_of_both_dags_has_an_execution_timeout() -> None:
    from airflow.dag_processing.dagbag import DagBag

    from matinale.settings import cached_settings

    cached_settings.cache_clear()
    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    for dag_id in ("matinale_nightly", "matinale_retention"):
        dag = bag.dags[dag_id]
        missing = [t.task_id for t in dag.tasks if t.execution_timeout is None]
        assert missing == [], f"{dag_id}: no execution_timeout on {missing}"
        for task in dag.tasks:
            assert task.execution_timeout is not None
            assert task.execution_timeout.total_seconds() >= 600, task.task_id
