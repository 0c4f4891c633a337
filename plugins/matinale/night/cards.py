"""The night's card stages: what each card says, drawing a batch of segments, the contact sheet.

``run_visuals`` and ``run_contact_sheet`` are stages of ``matinale.night.STAGES`` (they are
re-exported there); like every stage they read what earlier stages left in the work store
and write only under the run's prefix. Nothing here imports Airflow.
"""

from __future__ import annotations

import logging
import time
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from matinale.night.run import NightError, RunContext, segments_of, short_links
from matinale.segment import Segment
from matinale.settings import Settings
from matinale.store import Store

if TYPE_CHECKING:
    from matinale.content.brief import Brief, Theme
    from matinale.links.short import ShortLinks

__all__ = ["run_contact_sheet", "run_visuals"]

log = logging.getLogger(__name__)


def _card_link(
    settings: Settings, short: ShortLinks | None, segment: str, theme: Theme, edition: date
) -> tuple[str, str]:
    """The link a card's QR code encodes (the run's short link when it has a link service)
    and its destination (the theme's link, with UTM on the campaign's own domain)."""
    from matinale.content import opaque_content, own_domain, tracked_link
    from matinale.links.short import CARD_CHANNEL

    code = short.card(segment, theme.id) if short else None
    destination = tracked_link(
        theme.link,
        channel=CARD_CHANNEL,
        edition=edition,
        content=code or opaque_content(segment, theme.id, CARD_CHANNEL),
        allowed_domains=settings.allowed_domains,
        own=own_domain(settings.campaign.website) or None,
    )
    return (short.url(code) if short and code else destination), destination


def _card_fields(
    settings: Settings, segment: Segment, theme: Theme, brief: Brief, link: str
) -> dict[str, str]:
    """What a card says: the theme for everyone, one line for the segment, the legal mention."""

    if segment.kind == "territory":
        # The place a territorial pack is for, named as the posts name it.
        line = segment.place
    else:
        # The staff's line for this segment, else for its age band (the brief's framing).
        line = next(
            (brief.framing[k] for k in (segment.id, segment.band) if k and k in brief.framing),
            "",
        )
    return {
        "tagline": line,
        "headline": theme.title,
        "body": theme.key_message,
        "cta": theme.call_to_action,
        "link": link,
        "footer": settings.campaign.legal_mention,
        # Paper only: print formats add it to their footer (visuals.kit.Layout.print).
        "print_mention": settings.campaign.print_mention,
    }


def run_visuals(
    settings: Settings, store: Store, ctx: RunContext, batch: list[str], skip_visuals: bool = False
) -> dict[str, Any]:
    """Cards of a batch of segments: one per theme × format, their alt texts, a contact strip.

    Writes ``<segment>/cards/<theme>-<format>.jpg``, each theme's page preview
    (``<segment>/previews/``) and ``<segment>/cards.json`` into the run's bundle, and each
    segment's thumbnails into the work store for the contact sheet. ``skip_visuals`` (the
    Param) draws nothing and writes an empty ``cards.json`` per segment.
    """
    if skip_visuals:
        # The bundle reads one cards.json per segment: an empty list says "no card tonight".
        for segment_id in batch:
            store.put_json(
                f"{ctx.bundle}/{segment_id}/cards.json", {"segment": segment_id, "cards": []}
            )
        log.info("Param skip_visuals: no card drawn for %d segment(s)", len(batch))
        return {"segments": len(batch), "cards": 0, "skipped": True}
    from matinale.content import load_brief
    from matinale.store import LocalStore
    from matinale.visuals import (
        CardJob,
        CardSink,
        alt_text,
        card_filename,
        contact_strip,
        load_kit,
        render_cards,
        worker_count,
    )

    brief = load_brief(Path(ctx.brief_file), ctx.edition)
    kit = load_kit(settings.templates_dir)  # a brand kit failing its checks stops here
    by_id = {s.id: s for s in segments_of(store, ctx)}
    unknown = [s for s in batch if s not in by_id]
    if unknown:
        raise NightError(
            f"segments {unknown} are not in this run's segments.json: rerun the segment stage or fix the 'segments' param"
        )
    short = short_links(store, ctx, [t.id for t in brief.themes])
    links = {
        (segment_id, theme.id): _card_link(settings, short, segment_id, theme, ctx.edition)
        for segment_id in batch
        for theme in brief.themes
    }
    jobs = [
        CardJob(
            segment=segment_id,
            theme=theme.id,
            fields=_card_fields(
                settings, by_id[segment_id], theme, brief, links[segment_id, theme.id][0]
            ),
        )
        for segment_id in batch
        for theme in brief.themes
    ]
    fields = {(job.segment, job.theme): job.fields for job in jobs}
    entries: dict[str, list[dict[str, Any]]] = {segment_id: [] for segment_id in batch}
    thumbnails: dict[str, list[Any]] = {segment_id: [] for segment_id in batch}
    started = time.perf_counter()
    # A local work store: each worker writes the files of the cards it draws. Elsewhere (S3,
    # whose client does not cross processes) files are written as cards arrive, the parent's
    # uploads overlapping the workers' drawing.
    sink = CardSink(store, ctx.bundle) if isinstance(store, LocalStore) else None
    for card in render_cards(jobs, templates_dir=settings.templates_dir, sink=sink):
        name = card_filename(card.theme, card.format, kit)
        if not card.written:
            store.put_bytes(f"{ctx.bundle}/{card.segment}/{name}", card.data)
        if card.preview is not None:  # the theme's inline preview on the page (bundle uses it)
            store.put_bytes(
                f"{ctx.bundle}/{card.segment}/previews/{name.rsplit('/', 1)[-1]}", card.preview
            )
        card_fields = fields[(card.segment, card.theme)]
        entries[card.segment].append(
            {
                "file": name,
                "theme": card.theme,
                "format": card.format,
                "alt": alt_text(card_fields, format=card.format, campaign=settings.campaign.name),
                "link": card_fields["link"],
                "destination": links[card.segment, card.theme][1],
                "width": card.width,
                "height": card.height,
                "content_type": kit.content_type,
            }
        )
        thumbnails[card.segment].append(card)
    elapsed = time.perf_counter() - started
    for segment_id in batch:
        store.put_json(
            f"{ctx.bundle}/{segment_id}/cards.json",
            {"segment": segment_id, "cards": entries[segment_id]},
        )
        store.put_bytes(
            f"{ctx.prefix}/visuals/{segment_id}.png", contact_strip(thumbnails[segment_id])
        )
    total = sum(len(cards) for cards in entries.values())
    log.info(
        "Visuals: %d cards for %d segments in %.1f s (%.0f cards/s, %d processes)",
        total,
        len(batch),
        elapsed,
        total / elapsed if elapsed else 0,
        worker_count(total),
    )
    return {"segments": len(batch), "cards": total}


def run_contact_sheet(settings: Settings, store: Store, ctx: RunContext) -> dict[str, Any]:
    """Staff's contact sheet: every card of the night, small, one row per segment.

    Written as ``contact-sheet.jpg`` in the run's bundle (``contact-sheet-2.jpg``… when a
    long night needs more pages).
    """
    from matinale.bundle import french_date
    from matinale.visuals import contact_sheets

    segments = segments_of(store, ctx)
    rows = []
    for segment in segments:
        key = f"{ctx.prefix}/visuals/{segment.id}.png"
        if store.exists(key):  # a rerun of a few segments draws only those
            rows.append((f"{segment.label or segment.id}\n{segment.id}", store.get_bytes(key)))
    if not rows:  # visuals skipped for this run: nothing to show, and nothing wrong
        log.info("Contact sheet: no card was drawn in this run, no sheet written")
        return {"segments": 0, "pages": 0, "files": []}
    title = f"Planche contact — {french_date(ctx.edition)} — {len(rows)} segments"
    pages = contact_sheets(rows, title=title, templates_dir=settings.templates_dir)
    names = [
        "contact-sheet.jpg",
        *(f"contact-sheet-{number}.jpg" for number in range(2, len(pages) + 1)),
    ]
    for name, data in zip(names, pages, strict=True):
        store.put_bytes(f"{ctx.bundle}/{name}", data)
    log.info("Contact sheet: %d segments on %d page(s)", len(rows), len(pages))
    return {"segments": len(rows), "pages": len(pages), "files": names}
