"""Rendering every job's cards: order, the process pool, worker count, duplicate jobs."""

from __future__ import annotations

import pytest
from visuals_samples import (
    FIELDS,
    LINK,
    SIZES,
    TEMPLATES,
    open_image,
)

from matinale.visuals import (
    PREVIEW_MAX_BYTES,
    CardError,
    CardJob,
    TextFitError,
    render_cards,
    worker_count,
)


def test_render_cards_gives_every_format_of_every_job_in_order() -> None:
    jobs = [
        CardJob(segment=s, theme=t, fields=FIELDS)
        for s in ("18-24-p01", "t-75056")
        for t in ("sante", "ecole")
    ]
    cards = list(render_cards(jobs, templates_dir=TEMPLATES, workers=1))
    assert [(c.segment, c.theme, c.format) for c in cards] == [
        (j.segment, j.theme, f) for j in jobs for f in ("square", "landscape", "story")
    ]
    for card in cards:
        assert (card.width, card.height) == SIZES[card.format] == open_image(card.data).size
        assert (
            card.thumbnail_size[1] <= 100
            and len(card.thumbnail) == card.thumbnail_size[0] * card.thumbnail_size[1] * 3
        )
        # The page's inline preview comes with the card it shows: the square one, 1080 → 360 px.
        if card.format == "square":
            assert (
                card.preview is not None
                and card.preview_size == (360, 360) == open_image(card.preview).size
            )
            assert (
                len(card.preview) <= PREVIEW_MAX_BYTES and open_image(card.preview).format == "JPEG"
            )
        else:
            assert card.preview is None and card.preview_size is None


def test_worker_processes_render_the_same_bytes_as_one_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("matinale.visuals.cards._MIN_CARDS_PER_WORKER", 1)
    jobs = [
        CardJob(segment=f"t-{code}", theme="sante", fields={**FIELDS, "link": f"{LINK}-{code}"})
        for code in ("75056", "29019", "59350")
    ]
    assert worker_count(len(jobs), 2) == 2
    pooled = [
        card.data
        for card in render_cards(jobs, templates_dir=TEMPLATES, workers=2, formats=("square",))
    ]
    alone = [
        card.data
        for card in render_cards(jobs, templates_dir=TEMPLATES, workers=1, formats=("square",))
    ]
    assert pooled == alone


def test_an_error_in_a_worker_reaches_the_caller_with_its_context(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("matinale.visuals.cards._MIN_CARDS_PER_WORKER", 1)
    jobs = [
        CardJob(segment="18-24-p01", theme="sante", fields=FIELDS),
        CardJob(segment="18-24-p02", theme="climat", fields={**FIELDS, "body": "Trop long " * 300}),
    ]
    with pytest.raises(TextFitError, match="segment 18-24-p02, format square, theme climat"):
        list(render_cards(jobs, templates_dir=TEMPLATES, workers=2, formats=("square",)))


def test_worker_count_follows_cores_and_batch_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MATINALE_VISUALS_WORKERS", raising=False)
    assert worker_count(5, 8) == 1  # a few cards: cheaper in-process than spawning
    assert worker_count(10_000, 2) == 2
    monkeypatch.setenv("MATINALE_VISUALS_WORKERS", "3")
    assert worker_count(10_000) == 3


def test_duplicate_jobs_are_refused() -> None:
    job = CardJob(segment="18-24-p01", theme="sante", fields=FIELDS)
    with pytest.raises(CardError, match="share a segment and theme"):
        list(render_cards([job, job], templates_dir=TEMPLATES, workers=1))


def test_workers_write_their_cards_themselves_through_a_sink(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Protects issue 21 item 4: with a local work store, each worker writes the files of
    the cards it draws (the same bytes one process would make) and sends none back."""
    from matinale.store import LocalStore
    from matinale.visuals import CardSink

    monkeypatch.setattr("matinale.visuals.cards._MIN_CARDS_PER_WORKER", 1)
    jobs = [
        CardJob(segment=f"t-{code}", theme="sante", fields={**FIELDS, "link": f"{LINK}-{code}"})
        for code in ("75056", "29019", "59350")
    ]
    formats = ("square", "landscape")
    store = LocalStore(tmp_path)
    sink = CardSink(store, "run/bundle")
    written = list(
        render_cards(jobs, templates_dir=TEMPLATES, workers=2, formats=formats, sink=sink)
    )
    alone = list(render_cards(jobs, templates_dir=TEMPLATES, workers=1, formats=formats))
    assert [(c.segment, c.format) for c in written] == [(c.segment, c.format) for c in alone]
    for card, reference in zip(written, alone, strict=True):
        assert card.written and card.data == b"" and card.preview is None
        key = f"run/bundle/{card.segment}/cards/sante-{card.format}.jpg"
        assert store.get_bytes(key) == reference.data and card.size == len(reference.data)
        assert card.thumbnail == reference.thumbnail  # the contact sheet still gets its pixels
        preview = f"run/bundle/{card.segment}/previews/sante-{card.format}.jpg"
        if card.format == "square":
            assert store.get_bytes(preview) == reference.preview
        else:
            assert not store.exists(preview)
