"""``matinale person find|erase`` on real files and a local work store (no server)."""

from __future__ import annotations

import hashlib
import json
import stat
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from matinale.night import RunContext, run_ingest, run_privacy
from matinale.person import PersonQuery, erase_person, find_person
from matinale.person.erase import ERASURES_FILE
from matinale.person.identity import PersonError
from matinale.privacy import SuppressionError, keyed_id_hash, load_suppression
from matinale.settings import Settings, load_settings
from matinale.store import LocalStore

ROOT = Path(__file__).resolve().parents[2]
EDITION = date(2026, 11, 24)
TODAY = date(2026, 11, 25)
KEY = "k" * 64
EMAIL = "elodie.lefevre@example.fr"

HEADER = (
    "sep=;\r\n"
    "Identifiant;Prénom;Nom;Courriel;Téléphone;Date de naissance;Code postal;Code INSEE;"
    "Consentement email;Consentement SMS;Base légale;Notes\r\n"
)
ELODIE = (
    "'S001;Élodie;Lefèvre;Elodie.Lefevre@Example.fr;06 12 34 56 78;21/03/1975;93130;93053;"
    'oui;oui;consentement;"aime le ""café"";\r\ndeux lignes"\r\n'
)
JEAN = "S002;Jean;Petit;jean.petit@example.org;;03/08/1964;22300;22211;oui;non;consentement;\r\n"
ZOE = "S003;Zoé;Martin;zoe@example.org;+33 6 11 22 33 44;01/08/2003;28210;28146;oui;oui;consentement;\r\n"
ELODIE_AGAIN = (
    "S004;Élodie;L.;ELODIE.LEFEVRE@EXAMPLE.FR;;1975-03-21;93130;93053;oui;non;consentement;\r\n"
)
ELODIE_BROKEN = "S005;E.;L.;;06.12.34.56.78;31/02/1980;93130;93053;oui;oui;consentement;\r\n"
BLANK = ";;;;;;;;;;;\r\n"
EXPORT = HEADER + ELODIE + JEAN + BLANK + ZOE + ELODIE_AGAIN + ELODIE_BROKEN
KEPT = HEADER + JEAN + BLANK + ZOE


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("MATINALE_HOME", str(ROOT))
    monkeypatch.setenv("MATINALE_VAR", str(tmp_path / "var"))
    monkeypatch.setenv("MATINALE_WORK_STORE", "local")
    monkeypatch.setenv("MATINALE_PRIVACY_KEY", KEY)
    for name in ("MATINALE_INBOX", "MATINALE_PRIVACY_KEY_FILE", "AWS_ACCESS_KEY_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_AWS_DEFAULT", raising=False)
    loaded = load_settings()
    (loaded.inbox / "supporters").mkdir(parents=True)
    (loaded.inbox / "suppression").mkdir(parents=True)
    (loaded.inbox / "suppression" / "optouts.txt").write_text("someone.else@example.org\n")
    return loaded


def _night(settings: Settings, store: LocalStore, export: Path, run: str) -> RunContext:
    """Ingest and privacy as the night runs them, with the inputs record prepare writes."""
    ctx = RunContext(EDITION, run, str(export), str(settings.inbox / "briefs" / "x.yaml"))
    digest = hashlib.sha256(export.read_bytes()).hexdigest()
    store.put_json(f"{ctx.prefix}/inputs.json", {f"inbox/supporters/{export.name}": digest})
    run_ingest(settings, store, ctx)
    run_privacy(settings, store, ctx)
    return ctx


def _export(settings: Settings) -> Path:
    path = settings.inbox / "supporters" / "crm.csv"
    path.write_bytes(EXPORT.encode("cp1252"))
    return path


def test_find_lists_every_place_with_fields_and_dates(settings: Settings) -> None:
    store = LocalStore(settings.work_dir)
    _night(settings, store, _export(settings), "r1")
    found = find_person(
        settings,
        PersonQuery.of(email=EMAIL, phone=None, supporter_id=None),
        store=store,
        client=None,
    )
    result = found.to_json(values=True)
    assert result["query"] == {"email": EMAIL}
    assert result["suppressed"] is False
    where = {Path(p["where"]).name: p for p in result["places"]}
    # The duplicate row (another id, same address) and the quarantined one (same phone) are hers.
    assert where["crm.csv"]["rows"] == 3
    assert {"supporter_id", "email", "phone", "birth_date"} <= set(where["crm.csv"]["fields"])
    assert {"valid.parquet", "features.parquet", "contacts.parquet", "quarantine.csv"} <= set(where)
    assert where["valid.parquet"]["date"] == EDITION.isoformat()
    assert where["quarantine.csv"]["rows"] == 1
    assert found.identity.ids == {"S001", "S004", "S005"}
    assert found.identity.phones == {"+33612345678"}
    ids = {row.get("supporter_id") for row in where["crm.csv"]["values"]}
    assert ids == {"'S001", "S004", "S005"}
    assert any("no S3" in note for note in result["unchecked"])


def test_erase_removes_every_trace_and_the_next_night_suppresses(settings: Settings) -> None:
    store = LocalStore(settings.work_dir)
    export = _export(settings)
    first = _night(settings, store, export, "r1")
    reference = f"{first.prefix}/private/pii-reference.bin"
    assert store.exists(reference)  # privacy wrote the night's PII reference
    query = PersonQuery.of(email=None, phone="+33 6 12 34 56 78", supporter_id=None)
    record = erase_person(settings, query, store=store, client=None, today=TODAY)
    # It held her keyed hashes (and its key): dropped, rebuilt from the rewritten files.
    assert not store.exists(reference) and record["rows_removed"]["pii_references"] == 1

    assert export.read_bytes() == KEPT.encode("cp1252")  # the rest byte for byte
    again = find_person(settings, query, store=store, client=None)
    assert again.places == []
    assert again.suppressed is True
    by_id = find_person(
        settings,
        PersonQuery.of(email=None, phone=None, supporter_id="S004"),
        store=store,
        client=None,
    )
    assert by_id.places == [] and by_id.suppressed is True

    assert record["rows_removed"]["inbox"] == 3
    assert record["rows_removed"]["work_store"] >= 4
    saved = (settings.work_dir / record["record"]).read_text()
    assert record["record"].startswith(f"privacy/requests/{TODAY.isoformat()}-")
    for value in ("S001", "S004", EMAIL, "+33612345678", "0612345678", "Lefèvre"):
        assert value.lower() not in saved.lower()
    erasures = (settings.inbox / "suppression" / ERASURES_FILE).read_text()
    assert hashlib.sha256(EMAIL.encode()).hexdigest() in erasures
    assert "id:" + keyed_id_hash(KEY.encode(), "S001") in erasures
    assert EMAIL not in erasures

    # Tomorrow's export brings her back: the night suppresses every row of hers.
    tomorrow = settings.inbox / "supporters" / "crm-tomorrow.csv"
    tomorrow.write_bytes(EXPORT.encode("cp1252"))
    ctx = _night(settings, store, tomorrow, "r2")
    valid = store.get_frame(f"{ctx.prefix}/private/valid.parquet")
    contacts = store.get_frame(f"{ctx.prefix}/private/contacts.parquet")
    assert set(valid["supporter_id"]) == {"S002", "S003"}
    assert EMAIL not in set(contacts["email"])
    assert store.get_json(f"{ctx.prefix}/ingest.json")["suppressed"] == 2


def test_erase_again_is_harmless_and_keeps_other_lists(settings: Settings) -> None:
    store = LocalStore(settings.work_dir)
    _export(settings)
    (settings.inbox / "suppression" / "optouts.txt").write_text(
        "someone.else@example.org\r\nElodie.Lefevre@example.fr\r\n"
    )
    query = PersonQuery.of(email=EMAIL, phone=None, supporter_id=None)
    assert find_person(settings, query, store=store, client=None).suppressed is True
    erase_person(settings, query, store=store, client=None, today=TODAY)
    # Her plain entry is replaced by its digest; the other line stays as it was.
    assert (
        settings.inbox / "suppression" / "optouts.txt"
    ).read_bytes() == b"someone.else@example.org\r\n"
    before = (settings.inbox / "suppression" / ERASURES_FILE).read_bytes()
    second = erase_person(settings, query, store=store, client=None, today=TODAY)
    assert second["places"] == 0 and second["suppression_entries_added"] == 0
    assert (settings.inbox / "suppression" / ERASURES_FILE).read_bytes() == before


@pytest.mark.parametrize("kind", ["utf-16", "parquet"])
def test_other_export_formats_are_rewritten(settings: Settings, kind: str) -> None:
    store = LocalStore(settings.work_dir)
    text = EXPORT.replace("sep=;\r\n", "")
    if kind == "utf-16":
        path = settings.inbox / "supporters" / "crm.csv"
        path.write_bytes(text.encode("utf-16"))
    else:
        import csv
        import io

        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
        rows = [row for row in rows if any(row)]
        table = pa.table({name: [r[i] for r in rows[1:]] for i, name in enumerate(rows[0])})
        path = settings.inbox / "supporters" / "crm.parquet"
        pq.write_table(table, path)
    query = PersonQuery.of(email=None, phone=None, supporter_id="S001")
    erase_person(settings, query, store=store, client=None, today=TODAY)
    assert find_person(settings, query, store=store, client=None).places == []
    if kind == "utf-16":
        assert path.read_bytes() == text.replace(ELODIE, "").replace(ELODIE_AGAIN, "").replace(
            ELODIE_BROKEN, ""
        ).encode("utf-16")
    else:
        assert pq.read_table(path).column("Identifiant").to_pylist() == ["S002", "S003"]


def test_local_key_is_generated_private(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MATINALE_PRIVACY_KEY")
    _export(settings)
    query = PersonQuery.of(email=EMAIL, phone=None, supporter_id=None)
    erase_person(settings, query, store=LocalStore(settings.work_dir), client=None, today=TODAY)
    key = settings.var_dir / "privacy" / "key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert len(key.read_text().strip()) == 64


def test_suppression_by_keyed_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MATINALE_PRIVACY_KEY", raising=False)
    monkeypatch.setenv("MATINALE_PRIVACY_KEY_FILE", str(tmp_path / "absent"))
    path = tmp_path / "list.txt"
    path.write_text("id:" + keyed_id_hash(b"secret", " 'S9 ") + "\n")
    with pytest.raises(SuppressionError, match="no privacy key"):
        load_suppression(path)
    suppression = load_suppression(path, key=b"secret")
    assert suppression.counts["ids"] == 1 and len(suppression) == 1
    empty = pa.array(["", ""], pa.string())
    assert suppression.matches(empty, empty, pa.array(["S9", "S8"])).tolist() == [True, False]
    assert suppression.matches(empty, empty).tolist() == [False, False]


def test_queries_are_normalised_or_refused() -> None:
    assert PersonQuery.of(email=" Mailto:A@B.FR ", phone=None, supporter_id=None).value == "a@b.fr"
    assert PersonQuery.of(email=None, phone="0612345678", supporter_id=None).value == "+33612345678"
    with pytest.raises(PersonError):
        PersonQuery.of(email=None, phone="not a phone", supporter_id=None)
    with pytest.raises(PersonError):
        PersonQuery.of(email="a@b.fr", phone="0612345678", supporter_id=None)


def test_cli_find_json_and_erase(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    from matinale.cli import main

    _export(settings)
    assert main(["person", "find", "--email", EMAIL, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) >= {"query", "places", "suppressed"}
    assert all({"where", "fields", "date"} <= set(place) for place in result["places"])
    assert main(["person", "erase", "--id", "S001"]) == 2  # no prompt without a terminal
    assert main(["person", "erase", "--id", "S001", "--yes"]) == 0
    capsys.readouterr()
    assert main(["person", "find", "--id", "S001", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["places"] == []
