"""The night's visuals and contact-sheet stages: cards, previews and alt texts in the bundle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
import zxingcpp
from visuals_samples import (
    COMMUNE,
    EDITION,
    ROOT,
    SIZES,
    TEMPLATES,
    open_image,
)


def _brief(folder: Path, *, themes: int) -> tuple[Path, dict[str, Any]]:
    """The sample brief for EDITION with its first ``themes`` themes, written in ``folder``
    (its path and its content)."""
    brief = folder / f"{EDITION}.yaml"
    raw = yaml.safe_load((TEMPLATES / "sample_brief.yaml").read_text(encoding="utf-8"))
    raw["edition"] = EDITION
    raw["themes"] = raw["themes"][:themes]
    brief.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return brief, raw


def test_run_visuals_writes_cards_and_alt_texts_into_the_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from matinale import night
    from matinale.settings import load_settings
    from matinale.store import LocalStore

    monkeypatch.setenv("MATINALE_HOME", str(ROOT))
    monkeypatch.setenv("MATINALE_VAR", str(tmp_path / "var"))
    settings = load_settings()
    brief, raw = _brief(tmp_path, themes=2)
    store = LocalStore(tmp_path / "work")
    ctx = night.RunContext(
        edition=EDITION, run="20261124T000000Z-test", supporters_file="-", brief_file=str(brief)
    )
    segments = [
        {
            "id": "65plus-p03",
            "kind": "main",
            "band": "65plus",
            "label": "65 ans et + · santé",
            "size": 120,
        },
        {
            "id": "t-51518",
            "kind": "territory",
            "band": None,
            "label": f"{COMMUNE} · santé",
            "size": 60,
            "territory": {"level": "commune", "code": "51518", "name": COMMUNE},
        },
    ]
    store.put_json(f"{ctx.prefix}/segments.json", {"segments": segments, "report": {}})
    # The run's short links (prepare writes links.json when a link service is configured)
    from matinale.links.short import RunLinks, ShortLinks

    run_links = RunLinks.new("https://liens.ensemble-demain.example.org", "k7m")
    store.put_json(f"{ctx.prefix}/links.json", run_links.to_json())
    short = ShortLinks(run_links, [s["id"] for s in segments], [t["id"] for t in raw["themes"]])

    summary = night.run_visuals(settings, store, ctx, ["65plus-p03", "t-51518"])

    assert summary == {"segments": 2, "cards": 2 * 2 * 3}
    for segment in segments:
        cards = store.get_json(f"{ctx.bundle}/{segment['id']}/cards.json")
        assert cards["segment"] == segment["id"]
        assert {(c["theme"], c["format"]) for c in cards["cards"]} == {
            (t["id"], f) for t in raw["themes"] for f in ("square", "landscape", "story")
        }
        for card in cards["cards"]:
            assert card["file"] == f"cards/{card['theme']}-{card['format']}.jpg"
            image = open_image(store.get_bytes(f"{ctx.bundle}/{segment['id']}/{card['file']}"))
            assert image.size == (card["width"], card["height"]) == SIZES[card["format"]]
            assert card["alt"].startswith("Visuel ") and "code QR" in card["alt"]
            # The QR code carries the short link (≤ 60 characters); its destination keeps
            # the UTM parameters, with the code itself as the opaque utm_content.
            code = short.card(segment["id"], card["theme"])
            assert card["link"] == f"https://liens.ensemble-demain.example.org/s/{code}"
            assert len(card["link"]) <= 60
            assert card["destination"].endswith(
                f"utm_medium=card&utm_campaign={EDITION}&utm_content={code}"
            )
            # Every format's QR code still reads at the shipped encoder settings (issue 21).
            assert [r.text for r in zxingcpp.read_barcodes(image)] == [card["link"]], card["file"]
            if card["format"] == "square":
                assert [r.text for r in zxingcpp.read_barcodes(image)] == [card["link"]]
                preview = open_image(
                    store.get_bytes(
                        f"{ctx.bundle}/{segment['id']}/previews/{card['theme']}-square.jpg"
                    )
                )
                assert preview.size == (360, 360)
        previews = sorted(
            p.rsplit("/", 1)[-1] for p in store.list(f"{ctx.bundle}/{segment['id']}/previews")
        )
        assert previews == sorted(f"{t['id']}-square.jpg" for t in raw["themes"])
    territory = store.get_json(f"{ctx.bundle}/t-51518/cards.json")["cards"][0]["alt"]
    assert f"« {COMMUNE} »" in territory  # the territorial pack names its commune
    framing = raw["framing"]["65plus"]
    assert framing in store.get_json(f"{ctx.bundle}/65plus-p03/cards.json")["cards"][0]["alt"]

    sheet = night.run_contact_sheet(settings, store, ctx)
    assert sheet == {"segments": 2, "pages": 1, "files": ["contact-sheet.jpg"]}
    assert open_image(store.get_bytes(f"{ctx.bundle}/contact-sheet.jpg")).format == "JPEG"
    # A run whose visuals were skipped has no sheet, and that is no error.
    other = night.RunContext(
        edition=EDITION, run="20261124T010000Z-skip", supporters_file="-", brief_file=str(brief)
    )
    store.put_json(f"{other.prefix}/segments.json", {"segments": segments, "report": {}})
    assert night.run_contact_sheet(settings, store, other) == {
        "segments": 0,
        "pages": 0,
        "files": [],
    }
    # The bundle holds the cards, alt texts and contact sheet; thumbnails stay in the work store.
    assert not [k for k in store.list(ctx.bundle) if k.endswith(".png")]
    json.dumps(summary)  # a small XCom


class _MemoryStore:
    """A work store whose handle cannot cross processes, like an S3 store's client."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("this store cannot be pickled (like a boto3 client)")

    def put_bytes(self, key: str, data: bytes) -> None:
        self.files[key] = data

    def get_bytes(self, key: str) -> bytes:
        return self.files[key]

    def exists(self, key: str) -> bool:
        return key in self.files

    def list(self, prefix: str) -> list[str]:
        return sorted(k for k in self.files if k.startswith(prefix.rstrip("/") + "/"))

    def put_json(self, key: str, value: object) -> None:
        self.put_bytes(key, json.dumps(value).encode())

    def get_json(self, key: str) -> object:
        return json.loads(self.files[key])


def test_a_store_workers_cannot_open_gets_the_cards_from_the_parent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Protects S3 work stores (issue 21 item 4): workers write files only to a local work
    store; with any other store the parent writes each card and preview it gets back."""
    from matinale import night
    from matinale.settings import load_settings

    monkeypatch.setenv("MATINALE_HOME", str(ROOT))
    monkeypatch.setenv("MATINALE_VAR", str(tmp_path / "var"))
    monkeypatch.setattr("matinale.visuals.cards._MIN_CARDS_PER_WORKER", 1)
    monkeypatch.setenv("MATINALE_VISUALS_WORKERS", "2")
    settings = load_settings()
    brief, raw = _brief(tmp_path, themes=1)
    store = _MemoryStore()
    ctx = night.RunContext(
        edition=EDITION, run="20261124T000000Z-mem", supporters_file="-", brief_file=str(brief)
    )
    segment = {"id": "65plus-p03", "kind": "main", "band": "65plus", "label": "65+", "size": 9}
    store.put_json(f"{ctx.prefix}/segments.json", {"segments": [segment], "report": {}})

    assert night.run_visuals(settings, store, ctx, ["65plus-p03"]) == {"segments": 1, "cards": 3}
    cards = store.get_json(f"{ctx.bundle}/65plus-p03/cards.json")["cards"]  # type: ignore[index]
    theme = raw["themes"][0]["id"]
    for card in cards:
        image = open_image(store.get_bytes(f"{ctx.bundle}/65plus-p03/{card['file']}"))
        assert image.size == SIZES[card["format"]]
    preview = open_image(store.get_bytes(f"{ctx.bundle}/65plus-p03/previews/{theme}-square.jpg"))
    assert preview.size == (360, 360)
