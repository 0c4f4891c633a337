"""Pre-publish checks: PII scanner, links, sizes, manifest — each finding precise, none leaking."""

from __future__ import annotations

import json
import pickle
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from bundle_samples import build, settings
from hypothesis import given
from hypothesis import settings as settings_
from hypothesis import strategies as st

from matinale.bundle import read_bundle_files
from matinale.checks import (
    ChecksFailed,
    PiiScanner,
    check_bundle,
    limits_from,
    normalise_name,
    normalise_phone,
    safe_member_name,
)
from matinale.store import LocalStore

PEOPLE = pd.DataFrame(
    {
        "supporter_id": ["S0001234", "s0009999", "AB12", "ED-12-345"],
        "first_name": ["Hélène", "Jean-Pierre", "Camille", "Zoé"],
        "last_name": ["Dupont", "Le Gall", "Durand", "N'Diaye"],
        "email": ["helene.dupont@example.org", "", "", ""],
    }
)
ALLOW = ["Camille Durand", "contact@ensemble-demain.example.org", "01 99 00 00 01"]


@pytest.fixture(scope="module")
def scanner() -> PiiScanner:
    return PiiScanner.from_frames([PEOPLE], ALLOW)


def _found(scanner: PiiScanner, text: str) -> list[tuple[str, str, str]]:
    return list(scanner.scan([("f", text)]))


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Écrivez à jean.martin@example.fr demain", "e-mail address"),
        ("Appelez le 06 39 98 12 34 !", "phone number"),
        ("Appelez le +33 6 39 98 12 34.", "phone number"),
        ("tel:0639981234", "phone number"),
        ("Réf. S0001234 du fichier", "supporter id"),
        ("ref s0001234", "supporter id"),
        ("dossier S0009999.", "supporter id"),
        ("code ED-12-345, merci", "supporter id"),
        ("Merci à HELENE DUPONT pour son aide", "supporter full name"),
        ("Merci à Dupont Hélène", "supporter full name"),
        ("avec Jean Pierre Le Gall hier", "supporter full name"),
        ("Zoé N’Diaye était là", "supporter full name"),
    ],
)
def test_scanner_finds_personal_data(scanner: PiiScanner, text: str, kind: str) -> None:
    kinds = [k for _, k, _ in _found(scanner, text)]
    assert kind in kinds, (text, kinds)


@pytest.mark.parametrize(
    "text",
    [
        "Camille Durand propose 500 maisons de santé.",  # allowlisted candidate (also a supporter)
        "Écrivez à contact@ensemble-demain.example.org",  # allowlisted address
        "Permanence : 01 99 00 00 01",  # allowlisted phone, other format
        "Le code AB12 est trop court pour être un identifiant.",
        "Hélène et Dupont ne sont pas côte à côte.",
        "X-Amz-Signature=a0612345678bc0633445566778899aabbccddeeff00112233445566778899aabb",
        "STOP au 36111 · 1 000 000 logements · 07:30 · 2026-11-24",
        "https://ensemble-demain.example.org/sante?utm_content=65plus-p01-1",
    ],
)
def test_scanner_lets_campaign_text_through(scanner: PiiScanner, text: str) -> None:
    assert _found(scanner, text) == []


def test_scanner_holds_no_copy_and_reports_masked_values(scanner: PiiScanner) -> None:
    assert "S0001234" not in repr(scanner) and "Dupont" not in repr(scanner)
    with pytest.raises(TypeError):
        pickle.dumps(scanner)
    found = _found(scanner, "S0001234 et Hélène Dupont, helene.dupont@example.org, 06 39 98 12 34")
    shown = " ".join(value for _, _, value in found)
    for raw in ("S0001234", "s0001234", "Dupont", "dupont", "helene.dupont", "0639981234"):
        assert raw not in shown
    assert scanner.stats == {"people": 4, "supporter_ids": 3, "full_names": 8}


def test_remembered_answers_what_scan_answers() -> None:
    scanner = PiiScanner.from_frames([PEOPLE], ALLOW)
    items = [
        ("a", "Merci à HELENE DUPONT"),
        ("b", "Rien à signaler"),
        ("c", "Écrivez à jean.martin@example.fr"),
        ("d", "Merci à HELENE DUPONT"),
    ]
    expected = list(PiiScanner.from_frames([PEOPLE], ALLOW).scan(items))
    assert {where for where, _, _ in expected} == {"a", "c", "d"}
    texts = [text for _, text in items]
    scanner.remember(texts)
    assert [(items[i][0], kind, masked) for i, kind, masked in scanner.remembered(texts)] == (
        expected
    )
    assert scanner.remembered(texts[1:2]) == []
    with pytest.raises(KeyError, match="never examined"):
        scanner.remembered(["un texte jamais lu"])
    clean = PiiScanner.from_frames([PEOPLE], ALLOW)
    clean.remember(["Rien à signaler"])
    with pytest.raises(KeyError, match="never examined"):
        clean.remembered(["un texte jamais lu"])


def test_normalisation() -> None:
    assert normalise_name("  Hélène  D'Aubigné-Œuvre ") == "helene d aubigne uvre"
    assert (
        normalise_phone("06 39 98 12 34")
        == normalise_phone("+33 6 39 98 12 34")
        == normalise_phone("0033639981234")
        == "+33639981234"
    )


@pytest.mark.parametrize(
    "name", ["../evil", "/abs", "a/../b", "a\\b", "c:/x", ".hidden", "", "a//b"]
)
def test_unsafe_member_names(name: str) -> None:
    assert not safe_member_name(name)


def test_safe_member_name() -> None:
    assert safe_member_name("65plus-p01/cards/sante-square.jpg")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, bytes], dict]:
    store = LocalStore(tmp_path_factory.mktemp("bundle"))
    build(store, "b")
    return read_bundle_files(store, "b"), json.loads(store.get_bytes("b/manifest.json"))


def _check(files: dict[str, bytes], manifest: dict, scanner: PiiScanner, **kwargs):
    return check_bundle(
        files, manifest, scanner=scanner, allowed_domains=settings().allowed_domains, **kwargs
    )


def test_clean_bundle_passes_with_counts(built, scanner: PiiScanner) -> None:
    files, manifest = built
    report = _check(files, manifest, scanner)
    assert report.passed, [str(f) for f in report.findings]
    summary = report.summary()
    assert set(summary["checks"]) == {"pii", "links", "sizes", "manifest"}
    pii_files = summary["checks"]["pii"]["files_scanned"]
    assert pii_files > len(manifest["segments"]) * 4  # pack members too
    assert (
        summary["checks"]["links"]["absolute_links"] > 0
        and summary["checks"]["links"]["relative_links"] > 0
    )
    assert summary["checks"]["manifest"]["files_listed"] == len(files)


def test_pii_in_the_bundle_blocks_with_precise_messages(
    tmp_path: Path, scanner: PiiScanner
) -> None:
    store = LocalStore(tmp_path)
    build(store, "b", extra_text="\nMerci à Hélène Dupont (S0001234) !")
    files, manifest = read_bundle_files(store, "b"), json.loads(store.get_bytes("b/manifest.json"))
    report = _check(files, manifest, scanner)
    pii = [f for f in report.findings if f.check == "pii"]
    where = {(f.file, f.field) for f in pii}
    assert ("65plus-p01/posts.json", "posts[0].text") in where
    assert any(f.file == "65plus-p01/index.html" and f.field.startswith("line ") for f in pii)
    assert any(f.file == "65plus-p01/pack.zip!65plus-p01/posts.md" for f in pii)
    assert {f.value for f in pii if "full name" in f.problem} == {"h****e d****t"}
    with pytest.raises(ChecksFailed) as failure:
        report.raise_for_findings()
    message = str(failure.value)
    assert (
        "[pii] 18-24-p02/posts.json: posts[0].text: looks like a supporter full name" in message
        and "pii_allowlist" in message
    )
    assert "other places]" in message
    assert "Dupont" not in message and "S0001234" not in message


def _with(files: dict[str, bytes], path: str, data: bytes) -> dict[str, bytes]:
    return {**files, path: data}


def test_links_must_be_https_on_allowed_domains(built, scanner: PiiScanner) -> None:
    files, manifest = built
    posts = json.loads(files["65plus-p01/posts.json"])
    posts["posts"][1]["text"] = (
        "Voir http://ensemble-demain.example.org/x et https://evil.example.com/y"
    )
    posts["posts"][2]["text"] = "Partagez https://wa.me/?text=abc"  # share endpoints: pages only
    report = _check(
        _with(files, "65plus-p01/posts.json", json.dumps(posts).encode()), manifest, scanner
    )
    links = {
        (f.field, f.value, f.problem.split(":")[0]) for f in report.findings if f.check == "links"
    }
    assert ("posts[1].text", "http://ensemble-demain.example.org/x", "link is not https") in links
    assert (
        "posts[1].text",
        "https://evil.example.com/y",
        "domain 'evil.example.com' is not in links.allowed_domains of campaign.yaml",
    ) in links
    assert any(field == "posts[2].text" for field, _, _ in links)


def test_page_links_stay_in_the_bundle(built, scanner: PiiScanner) -> None:
    files, manifest = built
    page = files["65plus-p01/index.html"].decode()
    page = page.replace('href="pack.zip"', 'href="../../outside/pack.zip"', 1)
    page = page.replace(
        "</main>", '<a href="javascript:alert(1)">x</a><img src="cards/nope.jpg" alt=""></main>', 1
    )
    report = _check(_with(files, "65plus-p01/index.html", page.encode()), manifest, scanner)
    problems = {(f.value, f.problem) for f in report.findings if f.check == "links"}
    assert ("../../outside/pack.zip", "relative link leaves the edition's folder") in problems
    assert ("cards/nope.jpg", "relative link to a file that is not in the bundle") in problems
    assert any(value.startswith("javascript:") for value, _ in problems)


def test_own_presigned_links_are_allowed(built, scanner: PiiScanner) -> None:
    files, manifest = built
    own = "http://127.0.0.1:8333/b/editions/2026-11-24/r/65plus-p01/pack.zip?X-Amz-Signature=ab"
    page = files["65plus-p01/index.html"].decode().replace('href="pack.zip"', f'href="{own}"', 1)
    changed = _with(files, "65plus-p01/index.html", page.encode())
    assert not [
        f
        for f in _check(
            changed,
            manifest,
            scanner,
            own_link=lambda url: url.startswith("http://127.0.0.1:8333/b/editions/2026-11-24/r/"),
        ).findings
        if f.check == "links"
    ]
    assert [f for f in _check(changed, manifest, scanner).findings if f.check == "links"]


def test_size_limits(built, scanner: PiiScanner) -> None:
    files, manifest = built
    limits = limits_from({"limits": {"page": 1000}})
    report = _check(files, manifest, scanner, limits=limits)
    over = {f.file for f in report.findings if f.check == "sizes"}
    assert over == {f"{s['id']}/index.html" for s in manifest["segments"]}
    assert all("limits.page" in f.problem for f in report.findings)
    with pytest.raises(ValueError, match="limits.pages is not a file kind"):
        limits_from({"limits": {"pages": 1}})


def test_served_packs_are_link_targets_and_sized_by_their_members(
    tmp_path: Path, scanner: PiiScanner
) -> None:
    """A served bundle has no pack.zip: its pages' pack links pass only because the
    manifest says the link service builds the packs, and a pack is sized by its members."""
    store = LocalStore(tmp_path)
    build(store, "b", packs="served")
    files, manifest = read_bundle_files(store, "b"), json.loads(store.get_bytes("b/manifest.json"))
    assert not _check(files, manifest, scanner).findings
    stored = {k: v for k, v in manifest.items() if k != "packs"}  # read as stored packs
    dead = sorted((f.file, f.value) for f in _check(files, stored, scanner).findings)
    assert dead == sorted((f"{s['id']}/index.html", "pack.zip") for s in manifest["segments"])
    members = sum(
        len(files[p]) for p in files if p.startswith("65plus-p01/") and "/previews/" not in p
    ) - len(files["65plus-p01/index.html"])
    limits = limits_from({"limits": {"pack": members - 1}})
    over = [f for f in _check(files, manifest, scanner, limits=limits).findings]
    assert [(f.check, f.file, f.value) for f in over] == [
        ("sizes", "65plus-p01/pack.zip", f"{members:,} > {members - 1:,}")
    ]
    limits = limits_from({"limits": {"pack": members}})
    assert not _check(files, manifest, scanner, limits=limits).findings


def test_manifest_mismatches(built, scanner: PiiScanner) -> None:
    files, manifest = built
    tampered = _with(files, "65plus-p01/posts.md", b"changed")
    tampered["stray.txt"] = b"not listed"
    del tampered["18-24-p02/cards.json"]
    report = _check(tampered, manifest, scanner)
    found = {(f.file, f.field) for f in report.findings if f.check == "manifest"}
    assert {
        ("65plus-p01/posts.md", "sha256"),
        ("stray.txt", "path"),
        ("18-24-p02/cards.json", "path"),
    } <= found
    broken = {
        **manifest,
        "files": [{**manifest["files"][0], "sha256": "xyz"}, *manifest["files"][1:]],
    }
    assert any("manifest.schema.json" in f.problem for f in _check(files, broken, scanner).findings)


def _night(tmp_path: Path, extra_text: str = "", people: bool = True):
    from matinale.night import RunContext

    ctx = RunContext(
        edition=date(2026, 11, 24), run="20261124T000000Z-abcd", supporters_file="-", brief_file="-"
    )
    store = LocalStore(tmp_path)
    build(store, ctx.bundle, extra_text=extra_text)
    if people:
        store.put_frame(f"{ctx.prefix}/private/valid.parquet", PEOPLE)
    return store, ctx


def test_night_checks_record_their_counts(tmp_path: Path) -> None:
    from matinale.checks import check_manifest
    from matinale.night import run_checks

    store, ctx = _night(tmp_path)
    assert run_checks(settings(), store, ctx) == {"links": 0, "manifest": 0, "pii": 0, "sizes": 0}
    compliance = json.loads(store.get_bytes(f"{ctx.bundle}/compliance.json"))
    assert compliance["checks"]["stage"] == "bundle" and compliance["checks"]["passed"] is True
    assert compliance["checks"]["checks"]["pii"]["reference_people"] == len(PEOPLE)
    manifest = json.loads(store.get_bytes(f"{ctx.bundle}/manifest.json"))
    assert check_manifest(read_bundle_files(store, ctx.bundle), manifest).passed


def test_night_checks_stop_the_night(tmp_path: Path) -> None:
    from matinale.night import NightError, run_checks

    store, ctx = _night(tmp_path / "leak", extra_text="\nBravo Jean-Pierre Le Gall")
    with pytest.raises(NightError, match="supporter full name") as failure:
        run_checks(settings(), store, ctx)
    assert "Gall" not in str(failure.value)
    store, ctx = _night(tmp_path / "blind", people=False)
    with pytest.raises(NightError, match="cannot scan for personal data"):
        run_checks(settings(), store, ctx)


@settings_(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "https",
                "://",
                "http",
                "a",
                "B9",
                "+",
                "/",
                ".",
                "-",
                "=",
                " ",
                "\u00a0",
                "\x1c",
                "\n",
                "é",
                "_",
                "x.org",
                "?q=1",
                ")",
                "data:image/png;base64,",
            ]
        ),
        max_size=40,
    ).map("".join)
)
def test_absolute_urls_are_the_pattern_matches(text: str) -> None:
    from matinale.checks.links import _URL, _absolute_urls

    assert _absolute_urls(text) == [m.group(0).rstrip(".,;:!?)]'") for m in _URL.finditer(text)]


def _repack(files: dict[str, bytes], segment: str, **members: bytes) -> dict[str, bytes]:
    """The bundle with some members of a segment's pack.zip replaced."""
    import io
    import zipfile

    from matinale.bundle import make_pack

    archive = zipfile.ZipFile(io.BytesIO(files[f"{segment}/pack.zip"]))
    content = {name: archive.read(name) for name in archive.namelist()}
    content.update({f"{segment}/{name}": data for name, data in members.items()})
    return _with(files, f"{segment}/pack.zip", make_pack(content))


def test_pack_only_texts_and_changed_copies_are_scanned(built, scanner: PiiScanner) -> None:
    from matinale.bundle import rebuild_manifest

    files, manifest = built
    posts = files["65plus-p01/posts.json"].replace(b"Ce matin", "Merci Zoé N'Diaye".encode(), 1)
    alt = b"Textes alternatifs\n\nsante-square.jpg\nAvec Jean-Pierre Le Gall\n"
    changed = _repack(files, "65plus-p01", **{"posts.json": posts, "textes-alternatifs.txt": alt})
    report = _check(changed, rebuild_manifest(manifest, changed), scanner)
    pii = {(f.file, f.field, f.value) for f in report.findings if f.check == "pii"}
    assert pii == {
        ("65plus-p01/pack.zip!65plus-p01/textes-alternatifs.txt", "line 4", "j**n p****e ** g**l"),
        ("65plus-p01/pack.zip!65plus-p01/posts.json", "posts[0].text", "z*e * d***e"),
    }


def test_copies_in_packs_report_the_source_findings(tmp_path: Path, scanner: PiiScanner) -> None:
    store = LocalStore(tmp_path)
    build(store, "b", extra_text="\nMerci à Hélène Dupont !")
    files, manifest = read_bundle_files(store, "b"), json.loads(store.get_bytes("b/manifest.json"))
    report = _check(files, manifest, scanner)
    where = [
        (f.file, f.field)
        for f in report.findings
        if f.check == "pii" and f.file.startswith("65plus-p01/")
    ]
    source = [field for file, field in where if file == "65plus-p01/posts.json"]
    copy = [field for file, field in where if file == "65plus-p01/pack.zip!65plus-p01/posts.json"]
    assert source and copy == source  # the copy in the pack: the same findings, its own name
    assert report.summary()["checks"]["pii"]["files_scanned"] == len(
        [f for f in files if f.endswith((".json", ".md", ".html", ".txt"))]
    ) + 4 * len(manifest["segments"])


def test_files_passed_before_are_skipped_only_while_their_bytes_are_unchanged(
    built, scanner: PiiScanner
) -> None:
    from matinale.bundle import rebuild_manifest

    files, manifest = built
    passed = {entry["path"]: entry["sha256"] for entry in manifest["files"]}
    clean = _check(files, manifest, scanner, passed=passed)
    assert clean.passed and clean.counts["pii"]["files_unchanged_since_checks"] == len(files)
    assert "files_scanned" not in clean.counts["pii"]
    # A file changed after the checks (and the manifest rebuilt to match) is scanned again.
    leaky = _with(
        files, "18-24-p02/posts.md", files["18-24-p02/posts.md"] + "\nAvec Hélène Dupont".encode()
    )
    leaky = _repack(leaky, "18-24-p02", **{"cards.json": b'{"cards": [], "note": "S0001234"}'})
    report = _check(leaky, rebuild_manifest(manifest, leaky), scanner, passed=passed)
    found = {(f.file, f.problem.split(":")[0]) for f in report.findings if f.check == "pii"}
    assert found == {
        ("18-24-p02/posts.md", "looks like a supporter full name"),
        ("18-24-p02/pack.zip!18-24-p02/cards.json", "looks like a supporter id"),
    }
    assert report.counts["pii"]["files_unchanged_since_checks"] == len(files) - 2


_ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 3),
    st.floats(allow_nan=False, allow_infinity=False, width=16),
    st.just(-0.0),
    st.just(1.0),
    st.sampled_from(
        ["", "x", "65plus-p01", "a/../b", "0" * 64, "A" * 64, "page", "card", "Bad Slug", "square"]
    ),
    st.lists(st.integers(0, 2), max_size=2),
    st.dictionaries(st.sampled_from(["a", "path"]), st.integers(0, 2), max_size=2),
)


@pytest.fixture(scope="module")
def built_manifest(built) -> dict:
    return built[1]


@settings_(max_examples=150, deadline=None)
@given(data=st.data())
def test_schema_problems_match_a_whole_validation(
    built_manifest: dict, data: st.DataObject
) -> None:
    import copy

    import jsonschema

    from matinale.checks import load_schema, schema_problems

    document = copy.deepcopy(built_manifest)
    entries = document["files"]
    for _ in range(data.draw(st.integers(0, 6))):
        index = data.draw(st.integers(0, len(entries) - 1))
        action = data.draw(st.sampled_from(["set", "delete", "extra", "replace"]))
        key = data.draw(
            st.sampled_from(
                [
                    "path",
                    "sha256",
                    "bytes",
                    "content_type",
                    "segment",
                    "kind",
                    "width",
                    "theme",
                    "format",
                    "alt",
                ]
            )
        )
        if action == "replace":
            entries[index] = data.draw(_ODD_VALUES)
        elif isinstance(entries[index], dict):
            if action == "set":
                entries[index][key] = data.draw(_ODD_VALUES)
            elif action == "delete":
                entries[index].pop(key, None)
            else:
                entries[index][data.draw(st.sampled_from(["extra", "zz"]))] = 1
    if data.draw(st.booleans()):
        document[data.draw(st.sampled_from(["run", "edition", "unexpected"]))] = data.draw(
            _ODD_VALUES
        )
    errors = sorted(
        jsonschema.Draft202012Validator(load_schema("manifest")).iter_errors(document),
        key=lambda e: list(map(str, e.absolute_path)),
    )
    expected = [
        ("/".join(str(p) for p in error.absolute_path) or "(root)", error.message)
        for error in errors
    ]
    assert sorted(schema_problems(document, "manifest")) == sorted(expected)
    assert [where for where, _ in schema_problems(document, "manifest")] == [
        where for where, _ in expected
    ]


@settings_(max_examples=400, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "https",
                "http",
                "://",
                "x.org",
                "X.ORG",
                "/",
                "?",
                "#",
                "@",
                ":443",
                "a",
                ".",
                "-",
                "evil.com",
                "wa.me/",
                "[::1]",
                "ensemble-demain.example.org",
            ]
        ),
        min_size=1,
        max_size=12,
    ).map("".join)
)
def test_link_verdicts_by_origin_are_the_same(url: str) -> None:
    from urllib.parse import urlsplit

    from matinale.checks.links import _absolute_link_problem

    domains = ("ensemble-demain.example.org", "x.org")

    def plain(url: str) -> str | None:  # the verdict on the whole link, as before
        parts = urlsplit(url)
        if parts.scheme != "https":
            return "link is not https: use an https address"
        host = (parts.hostname or "").lower()
        return (
            None
            if host == "x.org"
            or host.endswith(".x.org")
            or host == domains[0]
            or host.endswith("." + domains[0])
            else f"domain {host!r} is not in links.allowed_domains of campaign.yaml: fix the link or allow the domain"
        )

    try:
        expected: object = plain(url)
    except ValueError as exc:
        expected = type(exc)
    origins: dict = {}
    for _ in range(2):  # fresh, then remembered
        try:
            got: object = _absolute_link_problem(
                url, page=False, domains=domains, own=lambda u: False, origins=origins
            )
        except ValueError as exc:
            got = type(exc)
        assert got == expected
